/**
 * taskd embedded in a host application: the host has its own HttpApi group and its own auth (a header
 * `X-Host-User` mapped to taskd users it provisions in the shared database), mounts taskd next to its own
 * routes through Effect's HttpRouter (v3's HttpLayerRouter), and serves both on one real socket. Embedded, taskd must behave as it
 * does standalone: the lifecycle, Coder's error bodies, the 64 KiB streaming cap. Also the fetch-style
 * web handler, called with `new Request(...)` directly.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, layer } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import * as Taskd from "../src/index.ts"
import * as Backends from "./support/Backends.ts"
import { messagesBody, request, snapshotPath, streamBody, upload } from "./support/Http.ts"
import { agentToken as awaitAgentToken, pollUntil, standard404 as notFound } from "./support/TaskFlow.ts"
import * as Workspaces from "./support/Workspaces.ts"

// --- The host application (this is the README's "embed taskd" example) ---

/** The host's own API. */
class HostApi extends HttpApi.make("host").add(
  HttpApiGroup.make("host").add(
    HttpApiEndpoint.get("hello", "/host/hello", { success: Schema.Struct({ greeting: Schema.String }) })
  )
) {}

/** The host's own routes, registered with the same HttpRouter as taskd's. */
const HostRoutes = HttpApiBuilder.layer(HostApi).pipe(
  Layer.provide(
    HttpApiBuilder.group(
      HostApi,
      "host",
      (handlers) => handlers.handle("hello", () => Effect.succeed({ greeting: "hi" }))
    )
  )
)

/** The host's sessions (here: a trusted header) mapped to taskd users; agents keep taskd's own tokens. */
const HostAuth = Layer.effect(
  Taskd.TokenAuth,
  Effect.gen(function*() {
    const builtin = yield* Taskd.TokenAuth
    const users = yield* Taskd.UserRepo
    return Taskd.TokenAuth.of({
      authenticateAgent: builtin.authenticateAgent,
      authenticateUser: (request) => {
        const username = request.headers["x-host-user"]
        return username === undefined
          ? Effect.fail(new Taskd.Unauthorized({ message: "Sign in to the host first." }))
          : Effect.provideService(Taskd.ensureUser({ username }), Taskd.UserRepo, users)
      }
    })
  })
).pipe(Layer.provide([Taskd.DefaultTokenAuth, Taskd.UserRepo.layer]))

/** The host's own database work: it bootstraps taskd's tables in the pool it shares with taskd. */
const Bootstrap = Layer.effectDiscard(Taskd.bootstrap)

/** The host serves its routes and taskd's through Effect's HttpRouter, on whatever HttpServer it is given. */
const hostApp = (provisioner: Layer.Layer<Taskd.Provisioner>) =>
  HttpRouter.serve(Layer.mergeAll(HostRoutes, Taskd.layer({ tokenAuth: HostAuth, provisioner }))).pipe(
    Layer.provide(Bootstrap)
  )

// --- The tests ---

const waitFor = <A, R>(effect: Effect.Effect<A, never, R>, done: (a: A) => boolean, what: string) =>
  pollUntil(effect, done, () => what)

const as = (user: string) => ({ "x-host-user": user })
const tooLarge = { message: "Failed to decode request payload.", detail: "http: request body too large" }

/** A chunked body of `total` bytes for a fetch Request, counting how much of it was ever pulled. */
const countingBody = (total: number) => {
  const counter = { pulled: 0 }
  const chunk = new Uint8Array(16 * 1024).fill(97)
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= total) return controller.close()
      counter.pulled += chunk.byteLength
      controller.enqueue(chunk)
    }
  }, { highWaterMark: 0 })
  return { stream, counter }
}

/** A clock two years ahead of the real one, to see that taskd writes with the clock it is given. */
const aheadMillis = 2 * 365 * 86_400_000
const base = Clock.Clock.defaultValue()
const aheadClock: Clock.Clock = {
  currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + aheadMillis,
  currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + aheadMillis),
  currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + BigInt(aheadMillis) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => base.currentTimeNanosUnsafe() + BigInt(aheadMillis) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: base.monotonicTimeNanos,
  sleep: (duration) => base.sleep(duration)
}

for (const backend of Backends.all) {
  const workspaces = Workspaces.recording()
  describe(`taskd embedded in a host app [${backend.name}]`, () => {
    layer(
      hostApp(workspaces.layer).pipe(Layer.provideMerge(NodeHttpServer.layerTest), Layer.provideMerge(backend.layer)),
      { timeout: 120_000 }
    )((it) => {
      it.effect("the host's routes, the host's auth mapped to taskd users, and Coder's error bodies", () =>
        Effect.gen(function*() {
          const hello = yield* request("GET", "/host/hello")
          assert.strictEqual(hello.status, 200)
          assert.deepStrictEqual(hello.json, { greeting: "hi" })

          const alice = yield* request("GET", "/api/v2/users/me", { headers: as("alice") })
          assert.strictEqual(alice.status, 200)
          assert.strictEqual(alice.json.username, "alice")
          assert.deepStrictEqual(alice.json.roles, ["member"])
          const again = yield* request("GET", "/api/v2/users/me", { headers: as("alice") })
          assert.strictEqual(again.json.id, alice.json.id)

          const anonymous = yield* request("GET", "/api/v2/users/me")
          assert.strictEqual(anonymous.status, 401)
          assert.deepStrictEqual(anonymous.json, { message: "Sign in to the host first." })

          const missing = yield* request("GET", `/api/v2/tasks/me/${randomUUID()}`, { headers: as("alice") })
          assert.strictEqual(missing.status, 404)
          assert.deepStrictEqual(missing.json, notFound)

          const malformed = yield* request("POST", "/api/v2/tasks/me", { headers: as("alice"), body: "{" })
          assert.strictEqual(malformed.status, 400)
          assert.strictEqual(malformed.json.message, "Request body must be valid JSON.")
          assert.notProperty(malformed.json, "_tag")

          // The payload codec travels with the groups: a wrong type is Coder's 400, field by field, never a schema dump.
          const wrongType = yield* request("POST", "/api/v2/tasks/me", {
            headers: as("alice"),
            body: JSON.stringify({ template_version_id: 7, input: "x" })
          })
          assert.strictEqual(wrongType.status, 400, wrongType.text)
          assert.isString(wrongType.json.message)
          assert.notInclude(wrongType.text, "_tag")
          for (const key of Object.keys(wrongType.json)) assert.include(["message", "detail", "validations"], key)

          const forbidden = yield* request("POST", "/api/v2/organizations/default/templates", {
            headers: as("alice"),
            body: JSON.stringify({ name: "nope" })
          })
          assert.strictEqual(forbidden.status, 403)
          assert.strictEqual(typeof forbidden.json.message, "string")
          assert.notProperty(forbidden.json, "_tag")
        }))

      it.effect("a task's lifecycle through the host: create, agent, snapshot, pause, logs, delete; the 64 KiB cap", () =>
        Effect.gen(function*() {
          // The bootstrap's owner, "admin", creates an instant template (no agent_command).
          const template = yield* request("POST", "/api/v2/organizations/default/templates", {
            headers: as("admin"),
            body: JSON.stringify({ name: `tpl-${randomUUID().slice(0, 8)}`, app_url: "http://127.0.0.1:9/" })
          })
          assert.strictEqual(template.status, 201)

          const created = yield* request("POST", "/api/v2/tasks/me", {
            headers: as("bob"),
            body: JSON.stringify({ template_version_id: template.json.active_version_id, input: "fix it" })
          })
          assert.strictEqual(created.status, 201)
          assert.strictEqual(created.json.owner_name, "bob")
          const task = `/api/v2/tasks/me/${created.json.id}`
          const get = request("GET", task, { headers: as("bob") })
          yield* waitFor(get, (r) => r.json.status === "initializing", "initializing")

          // The workspace agent, with the token the provisioner was given.
          const agentToken = yield* awaitAgentToken(workspaces.record, created.json.id)
          // The agent may authenticate once the provision job has completed, which can follow "initializing".
          const manifest = yield* waitFor(
            request("GET", "/api/v2/workspaceagents/me/manifest", { token: agentToken }),
            (r) => r.status === 200,
            "the agent's manifest"
          )
          assert.strictEqual(manifest.json.task_id, created.json.id)
          const lifecycle = yield* request("POST", "/api/v2/workspaceagents/me/report-lifecycle", {
            token: agentToken,
            body: JSON.stringify({ state: "ready" })
          })
          assert.strictEqual(lifecycle.status, 204)
          const health = yield* request("POST", "/api/v2/workspaceagents/me/app-health", {
            token: agentToken,
            body: JSON.stringify({ healths: { [manifest.json.apps[0].id]: "healthy" } })
          })
          assert.strictEqual(health.status, 200)
          assert.strictEqual((yield* get).json.status, "active")

          // The 64 KiB cap, chunked and declared, through the host's server.
          const chunked = yield* streamBody(snapshotPath(created.json.id), {
            token: agentToken,
            totalBytes: 4 * 1024 * 1024,
            declareLength: false
          })
          assert.strictEqual(chunked.status, 400)
          assert.deepStrictEqual(JSON.parse(chunked.body), tooLarge)
          assert.isBelow(chunked.sentBytes, 4 * 1024 * 1024)
          const declared = yield* streamBody(snapshotPath(created.json.id), {
            token: agentToken,
            totalBytes: 64 * 1024 + 1,
            declareLength: true
          })
          assert.strictEqual(declared.status, 400)
          assert.deepStrictEqual(JSON.parse(declared.body), tooLarge)
          // The query checks of the upload, through the host's server.
          const badFormat = yield* upload(agentToken, created.json.id, messagesBody([]), { query: "?format=other" })
          assert.strictEqual(badFormat.status, 400)
          assert.deepStrictEqual(badFormat.json, {
            message: "Invalid format parameter.",
            detail: `Only "agentapi" format is currently supported, got "other".`
          })

          // The snapshot upload (the shutdown script's), then pause; logs now come from the snapshot.
          const uploaded = yield* upload(
            agentToken,
            created.json.id,
            messagesBody([{ id: 3, content: "done", role: "agent", time: "2025-01-01T00:00:00Z" }])
          )
          assert.strictEqual(uploaded.status, 204)
          assert.strictEqual(uploaded.text, "")
          const paused = yield* request("POST", `${task}/pause`, { headers: as("bob") })
          assert.strictEqual(paused.status, 202)
          assert.strictEqual(paused.json.workspace_build.transition, "stop")
          yield* waitFor(get, (r) => r.json.status === "paused", "paused")
          const logs = yield* request("GET", `${task}/logs`, { headers: as("bob") })
          assert.strictEqual(logs.status, 200)
          assert.deepStrictEqual(logs.json.logs, [{
            id: 3,
            content: "done",
            type: "output",
            time: "2025-01-01T00:00:00Z"
          }])

          // Another host user cannot see it; its owner deletes it.
          const stranger = yield* request("GET", `/api/v2/tasks/bob/${created.json.id}/logs`, { headers: as("carol") })
          assert.strictEqual(stranger.status, 404)
          assert.deepStrictEqual(stranger.json, notFound)
          const deleted = yield* request("DELETE", task, { headers: as("bob") })
          assert.strictEqual(deleted.status, 202)
          yield* waitFor(get, (r) => r.status === 404, "deleted")
        }))

      it.effect("the web handler: the chunked cap, Coder's error bodies, the host's auth and clock", () =>
        Effect.gen(function*() {
          // A second front end on the same pool: taskd as (Request) => Promise<Response>.
          // The test's whole context goes in (the host's router among it): the handler takes only the pool from it.
          const context = yield* Effect.context<SqlClient.SqlClient>()
          const web = Taskd.webHandler(Layer.succeedContext(context), {
            tokenAuth: HostAuth,
            provisioner: workspaces.layer,
            clock: aheadClock
          })
          yield* Effect.addFinalizer(() => Effect.promise(web.dispose))
          const call = (path: string, init: RequestInit = {}) =>
            Effect.promise(async () => {
              const response = await web.handler(new Request(`http://taskd.test${path}`, init))
              const text = await response.text()
              return { status: response.status, text, json: text === "" ? undefined : JSON.parse(text) }
            })

          const anonymous = yield* call("/api/v2/users/me")
          assert.strictEqual(anonymous.status, 401)
          assert.deepStrictEqual(anonymous.json, { message: "Sign in to the host first." })
          assert.deepStrictEqual((yield* call("/nowhere")).json, { message: "Route not found." })

          // Users the web handler creates are stamped with the clock it was given.
          const dave = yield* call("/api/v2/users/me", { headers: as("dave") })
          assert.strictEqual(dave.status, 200)
          assert.isAbove(Date.parse(dave.json.created_at), Date.now() + aheadMillis / 2)

          // Coder's error bodies and the Go-style JSON reading hold in the web handler too.
          const malformed = yield* call("/api/v2/tasks/me", {
            method: "POST",
            headers: { ...as("dave"), "content-type": "application/json" },
            body: "{"
          })
          assert.strictEqual(malformed.status, 400)
          assert.strictEqual(malformed.json.message, "Request body must be valid JSON.")
          assert.notInclude(malformed.text, "_tag")

          // An active task's agent, for the snapshot endpoint (the task is checked before the body is read).
          const template = yield* request("POST", "/api/v2/organizations/default/templates", {
            headers: as("admin"),
            body: JSON.stringify({ name: `tpl-${randomUUID().slice(0, 8)}` })
          })
          // Keys matched case-insensitively, as Go's decoder does; created through the web handler.
          const created = yield* call("/api/v2/tasks/me", {
            method: "POST",
            headers: { ...as("erin"), "content-type": "application/json" },
            body: JSON.stringify({ Template_Version_ID: template.json.active_version_id, INPUT: "shout" })
          })
          assert.strictEqual(created.status, 201, created.text)
          assert.strictEqual(created.json.owner_name, "erin")
          assert.strictEqual(created.json.initial_prompt, "shout")
          yield* waitFor(
            request("GET", `/api/v2/tasks/me/${created.json.id}`, { headers: as("erin") }),
            (r) => r.json.status === "initializing",
            "initializing"
          )
          const agentToken = yield* awaitAgentToken(workspaces.record, created.json.id)
          yield* waitFor(
            request("GET", "/api/v2/workspaceagents/me/manifest", { token: agentToken }),
            (r) => r.status === 200,
            "the agent's manifest"
          )

          const { counter, stream } = countingBody(8 * 1024 * 1024)
          const refused = yield* call(snapshotPath(created.json.id), {
            method: "POST",
            headers: { "coder-session-token": agentToken, "content-type": "application/json" },
            body: stream,
            duplex: "half"
          } as RequestInit)
          assert.strictEqual(refused.status, 400)
          assert.deepStrictEqual(refused.json, tooLarge)
          // Refused at the cap: only a little more than 64 KiB of the 8 MiB was ever read.
          assert.isAtMost(counter.pulled, 64 * 1024 + 2 * 16 * 1024)

          const unknownParam = yield* call(snapshotPath(created.json.id, "?format=agentapi&k=1"), {
            method: "POST",
            headers: { "coder-session-token": agentToken },
            body: messagesBody([])
          })
          assert.strictEqual(unknownParam.status, 400)
          assert.deepStrictEqual(unknownParam.json, {
            message: "Invalid query parameters.",
            validations: [{ field: "k", detail: `"k" is not a valid query param` }]
          })

          const accepted = yield* call(snapshotPath(created.json.id), {
            method: "POST",
            headers: { "coder-session-token": agentToken },
            body: messagesBody([])
          })
          assert.strictEqual(accepted.status, 204)
        }))

      it.effect("taskd's metrics in a host's own router: GET /metrics, and every request counted by route", () =>
        Effect.gen(function*() {
          // The host's router (here as a web handler) with its routes, taskd's, taskd's /metrics route and
          // taskd's request middleware: what the standalone server adds around `layer` itself.
          const sql = Layer.succeed(SqlClient.SqlClient, yield* SqlClient.SqlClient)
          const app = Layer.mergeAll(
            HostRoutes,
            Taskd.layer({ tokenAuth: HostAuth, provisioner: workspaces.layer }),
            Taskd.metricsLayer
          ).pipe(Layer.provide(sql), Layer.provide(HttpServer.layerServices))
          const web = HttpRouter.toWebHandler(app, { disableLogger: true, middleware: Taskd.recordRequests })
          yield* Effect.addFinalizer(() => Effect.promise(web.dispose))
          const call = (path: string, init: RequestInit = {}) =>
            Effect.promise(async () => {
              const response = await (web.handler as (request: Request) => Promise<Response>)(
                new Request(`http://taskd.test${path}`, init)
              )
              return { status: response.status, text: await response.text() }
            })

          assert.strictEqual((yield* call("/host/hello")).status, 200)
          assert.strictEqual((yield* call("/api/v2/users/me", { headers: as("frank") })).status, 200)
          const scraped = yield* call(Taskd.metricsPath)
          assert.strictEqual(scraped.status, 200)
          const counted = (route: string) =>
            scraped.text.split("\n").some((line) =>
              line.startsWith("taskd_http_requests_total{") && line.includes(`route="${route}"`) &&
              line.includes(`method="GET"`) && line.includes(`status="2xx"`)
            )
          assert.isTrue(counted("/host/hello"), scraped.text)
          assert.isTrue(counted("/api/v2/users/me"), scraped.text)
        }))
    })
  })
}
