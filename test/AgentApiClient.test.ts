/**
 * The agentapi client against a fake agentapi on a real socket: decoding, and every failure as a typed
 * error with a one-line detail. Live clock: the timeouts are real.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import {
  AgentApiClient,
  AgentApiInvalidUrl,
  AgentApiRequestError,
  AgentApiUnsupportedScheme,
  layer,
  layerHttpClient,
  layerWith
} from "../src/AgentApi/AgentApiClient.ts"
import { fakeServer, respond, silent } from "./support/FakeHttp.ts"
import { freePort } from "./support/Net.ts"
const conversation = {
  $schema: "http://localhost:3284/schemas/MessagesResponseBody.json",
  messages: [
    { id: 0, content: "Welcome, user!", role: "agent", time: "2025-09-25T10:42:48.000000001Z" },
    { id: 1, content: "Fix the bug", role: "user", time: "2025-09-25T10:43:00+00:00" }
  ]
}

const client = layerWith({ requestTimeout: "2 seconds" })

const requestError = (error: unknown): AgentApiRequestError => {
  assert.instanceOf(error, AgentApiRequestError)
  return error as AgentApiRequestError
}

describe("AgentApiClient", () => {
  it.live("messages: GET /messages, decoded with the agentapi codec", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, conversation))
      const api = yield* AgentApiClient
      const messages = yield* api.messages(agentapi.url)
      assert.deepStrictEqual(messages, {
        $schema: conversation.$schema,
        messages: [
          { id: 0, content: "Welcome, user!", role: "agent", time: "2025-09-25T10:42:48.000000001Z" },
          { id: 1, content: "Fix the bug", role: "user", time: "2025-09-25T10:43:00Z" }
        ]
      })
      assert.strictEqual(agentapi.requests.length, 1)
      assert.strictEqual(agentapi.requests[0].method, "GET")
      assert.strictEqual(agentapi.requests[0].path, "/messages")
    }).pipe(Effect.provide(client)))

  it.live("status: GET /status", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, { status: "stable", agent_type: "claude", backend: "pty" }))
      const status = yield* (yield* AgentApiClient).status(agentapi.url)
      assert.deepStrictEqual(status, { status: "stable", agent_type: "claude" })
      assert.strictEqual(agentapi.requests[0].path, "/status")
    }).pipe(Effect.provide(client)))

  it.live("sendMessage: POST /message with exactly {content, type: user}", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, { ok: true }))
      const content = "line 1\nsay \"hi\" ✓"
      const response = yield* (yield* AgentApiClient).sendMessage(agentapi.url, content)
      assert.deepStrictEqual(response, { ok: true })
      const [request] = agentapi.requests
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.path, "/message")
      assert.strictEqual(request.headers["content-type"], "application/json")
      assert.strictEqual(request.body.toString("utf8"), `{"content":"line 1\\nsay \\"hi\\" ✓","type":"user"}`)
    }).pipe(Effect.provide(client)))

  it.live("a base URL with a path and a trailing slash keeps the path", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, { status: "running" }))
      yield* (yield* AgentApiClient).status(`${agentapi.url}/apps/agent/?x=1`)
      assert.strictEqual(agentapi.requests[0].path, "/apps/agent/status")
      assert.strictEqual(agentapi.requests[0].query, "")
    }).pipe(Effect.provide(client)))

  it.live("a status other than 200 is a Status error naming the operation, the request and the status", () =>
    Effect.gen(function*() {
      const api = yield* AgentApiClient
      const failing = yield* fakeServer(respond(500, { message: "boom" }))
      const error = requestError(yield* Effect.flip(api.messages(failing.url)))
      assert.strictEqual(error.operation, "messages")
      assert.strictEqual(error.reason, "Status")
      assert.strictEqual(error.status, 500)
      assert.strictEqual(error.detail, `GET ${failing.url}/messages: status 500`)
      assert.strictEqual(error.message, error.detail)

      // 201 is not 200 either, and the operation is the one that failed.
      const created = yield* fakeServer(respond(201, { ok: true }))
      const send = requestError(yield* Effect.flip(api.sendMessage(created.url, "x")))
      assert.strictEqual(send.operation, "sendMessage")
      assert.strictEqual(send.detail, `POST ${created.url}/message: status 201`)
      const status = requestError(yield* Effect.flip(api.status(failing.url)))
      assert.strictEqual(status.operation, "status")
      assert.strictEqual(status.detail, `GET ${failing.url}/status: status 500`)
    }).pipe(Effect.provide(client)))

  it.live("malformed JSON is a Decode error", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, "{\"messages\": [", { raw: true }))
      const error = requestError(yield* Effect.flip((yield* AgentApiClient).messages(agentapi.url)))
      assert.strictEqual(error.reason, "Decode")
      assert.match(error.detail, new RegExp(`^GET ${agentapi.url}/messages: invalid response: not JSON: .+`))
      assert.notInclude(error.detail, "\n")
    }).pipe(Effect.provide(client)))

  it.live("a body of the wrong shape is a Decode error with the path of each issue", () =>
    Effect.gen(function*() {
      const api = yield* AgentApiClient
      const agentapi = yield* fakeServer(respond(200, { messages: [{ id: 1, role: 5 }, { id: "x" }] }))
      const error = requestError(yield* Effect.flip(api.messages(agentapi.url)))
      assert.strictEqual(error.reason, "Decode")
      assert.include(error.detail, `GET ${agentapi.url}/messages: invalid response: `)
      assert.include(error.detail, "messages.0.role: Expected string, actual 5")
      assert.include(error.detail, "messages.1.id: Expected")

      const noStatus = yield* fakeServer(respond(200, { agent_type: "claude" }))
      const status = requestError(yield* Effect.flip(api.status(noStatus.url)))
      assert.strictEqual(status.detail, `GET ${noStatus.url}/status: invalid response: status: is missing`)

      const notOk = yield* fakeServer(respond(200, { ok: "yes" }))
      const send = requestError(yield* Effect.flip(api.sendMessage(notOk.url, "x")))
      assert.strictEqual(send.reason, "Decode")
      assert.include(send.detail, "ok: Expected boolean")
    }).pipe(Effect.provide(client)))

  it.live("a server that never answers times out after the configured request timeout", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(silent)
      const started = Date.now()
      const error = requestError(yield* Effect.flip((yield* AgentApiClient).messages(agentapi.url)))
      const elapsed = Date.now() - started
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.detail, `GET ${agentapi.url}/messages: timed out after 300ms`)
      assert.isAtLeast(elapsed, 250)
      assert.isBelow(elapsed, 3000)
    }).pipe(Effect.provide(layerWith({ requestTimeout: "300 millis" }))))

  it.live("TASKD_AGENTAPI_TIMEOUT sets the request timeout of the default layer", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(silent)
      const error = requestError(yield* Effect.flip((yield* AgentApiClient).status(agentapi.url)))
      assert.strictEqual(error.detail, `GET ${agentapi.url}/status: timed out after 200ms`)
    }).pipe(
      Effect.provide(layer),
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromUnknown({ TASKD_AGENTAPI_TIMEOUT: "200 millis" })
      )
    ))

  it.live("a refused connection is a Transport error, at once", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const started = Date.now()
      const error = requestError(yield* Effect.flip((yield* AgentApiClient).messages(`http://127.0.0.1:${port}`)))
      assert.strictEqual(error.reason, "Transport")
      assert.match(error.detail, new RegExp(`^GET http://127.0.0.1:${port}/messages: .*ECONNREFUSED`))
      assert.isBelow(Date.now() - started, 1500)
    }).pipe(Effect.provide(client)))

  it.live("https and other schemes are refused before any request; a URL that does not parse too", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, conversation))
      const api = yield* AgentApiClient
      const https = yield* Effect.flip(api.messages(agentapi.url.replace("http:", "https:")))
      assert.instanceOf(https, AgentApiUnsupportedScheme)
      assert.strictEqual((https as AgentApiUnsupportedScheme).scheme, "https")
      assert.strictEqual((https as AgentApiUnsupportedScheme).operation, "messages")
      const ws = yield* Effect.flip(api.sendMessage("ws://127.0.0.1:3284", "x"))
      assert.instanceOf(ws, AgentApiUnsupportedScheme)
      assert.strictEqual((ws as AgentApiUnsupportedScheme).operation, "sendMessage")
      const invalid = yield* Effect.flip(api.status("127.0.0.1:3284 nope"))
      assert.instanceOf(invalid, AgentApiInvalidUrl)
      assert.strictEqual((invalid as AgentApiInvalidUrl).operation, "status")
      assert.strictEqual(agentapi.requests.length, 0)
    }).pipe(Effect.provide(client)))

  it.live("runs on any HttpClient the host provides (here fetch)", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, conversation))
      const messages = yield* (yield* AgentApiClient).messages(agentapi.url)
      assert.strictEqual(messages.messages.length, 2)
      const failing = yield* fakeServer(respond(502))
      const error = requestError(yield* Effect.flip((yield* AgentApiClient).messages(failing.url)))
      assert.strictEqual(error.detail, `GET ${failing.url}/messages: status 502`)
    }).pipe(Effect.provide(layerHttpClient().pipe(Layer.provide(FetchHttpClient.layer)))))
})
