/**
 * The agentapi client's `events`: agentapi's `GET /events` read from the agentapi double (and FakeHttp for
 * answers that are not an event stream), on real sockets. Live clock.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import {
  AgentApiClient,
  AgentApiRequestError,
  AgentApiUnsupportedScheme,
  defaultMaxEventSize,
  layerWith
} from "../src/AgentApi/AgentApiClient.ts"
import type { AgentEvent } from "../src/Domain/AgentApi.ts"
import * as AgentApiDouble from "./support/AgentApiDouble.ts"
import { fakeServer, respond, silent } from "./support/FakeHttp.ts"
import { freePort, sleepLive } from "./support/Net.ts"

const client = layerWith({ requestTimeout: "2 seconds" })
const time = "2025-09-25T10:42:48.5Z"
const now = () => new Date(time)

const update = (id: number | bigint, role: string, message: string, at = time): AgentEvent => ({
  _tag: "MessageUpdate",
  id,
  role,
  message,
  time: at
})
const status = (value: "running" | "stable", agentType = "claude"): AgentEvent => ({
  _tag: "StatusChange",
  status: value,
  agent_type: agentType
})

/** The first `count` events of `url`'s stream. */
const take = (url: string, count: number) =>
  Effect.gen(function*() {
    const api = yield* AgentApiClient
    return yield* Stream.runCollect(Stream.take(api.events(url), count))
  })

/** The whole stream of `url`, until it ends. */
const all = (url: string) =>
  Effect.gen(function*() {
    const api = yield* AgentApiClient
    return yield* Stream.runCollect(api.events(url))
  })

/**
 * Follows `url`: `next(n)` waits for the next `n` events, `rest` for the end of the stream and what came
 * before it. Waiting for the replay with `next` before closing the connection from the server side makes
 * sure the client is connected by then (the server has sent the replay; the client may not have read it).
 */
const open = (url: string) =>
  Effect.gen(function*() {
    const api = yield* AgentApiClient
    const queue = yield* Stream.toQueue(api.events(url), { capacity: "unbounded" })
    return { next: (count: number) => Queue.takeBetween(queue, count, count), rest: Queue.collect(queue) }
  })

/** Follows `url` in the background: the first `count` events; returns once the server has sent the replay. */
const follow = (agent: AgentApiDouble.AgentApiDouble, count: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(take(agent.url, count))
    yield* agent.awaitEventConnections(1)
    return fiber
  })

const requestError = (error: unknown): AgentApiRequestError => {
  assert.instanceOf(error, AgentApiRequestError)
  return error as AgentApiRequestError
}

const malformed = (events: ReadonlyArray<AgentEvent>) =>
  events.filter((event) => event._tag === "Malformed").map((event) => event._tag === "Malformed" ? event : undefined)

describe("AgentApiClient.events", () => {
  it.live("replays every message, then the status, then the stored errors, decoded", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({
        now,
        messages: [
          { role: "agent", content: "Welcome <user> & co\u2028!" },
          { role: "user", content: "Fix the bug ✓", time: "2025-09-25T12:43:00.100+02:00" },
          { role: "agent", content: "Done." }
        ]
      })
      yield* agent.addError("context window full", "warning")
      const events = yield* take(agent.url, 5)
      assert.deepStrictEqual(events, [
        update(0, "agent", "Welcome <user> & co\u2028!"),
        update(1, "user", "Fix the bug ✓", "2025-09-25T12:43:00.1+02:00"),
        update(2, "agent", "Done."),
        status("stable"),
        { _tag: "AgentError", message: "context window full", level: "warning", time }
      ])
      const request = agent.requests[0]
      assert.deepStrictEqual([request.method, request.path], ["GET", "/events"])
      // Taking 5 ended the stream, and with it the connection.
      yield* agent.awaitEventConnections(0)
    }).pipe(Effect.provide(client)))

  it.live("follows live changes in order: new messages, the last one's text as it grows, status changes", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now, messages: [{ role: "agent", content: "Hi" }] })
      const fiber = yield* follow(agent, 8)
      yield* agent.addMessage("user", "Write a poem")
      yield* agent.setStatus("running")
      yield* agent.setStatus("running") // no change, nothing sent
      yield* agent.addMessage("agent", "Roses")
      yield* agent.updateLastMessage("Roses are red")
      yield* agent.updateLastMessage("Roses are red, violets are blue")
      yield* agent.setStatus("stable")
      assert.deepStrictEqual(yield* Fiber.join(fiber), [
        update(0, "agent", "Hi"),
        status("stable"),
        update(1, "user", "Write a poem"),
        status("running"),
        update(2, "agent", "Roses"),
        update(2, "agent", "Roses are red"),
        update(2, "agent", "Roses are red, violets are blue"),
        status("stable")
      ])
    }).pipe(Effect.provide(client)))

  it.live("decodes as Go does: zero values, canonical times, int64 ids, any role; comments and retry ignored", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now, agentType: "codex" })
      const fiber = yield* follow(agent, 5)
      yield* agent.sendRaw(
        ": a comment\n" +
          "retry: 1000\n\n" +
          "event: message_update\ndata: {\"id\":9007199254740993,\"role\":\"agent\",\"message\":\"x\"," +
          "\"time\":\"2025-01-01T10:00:00.000000000+00:00\"}\n\n" +
          "event: message_update\ndata: {\"id\":null,\"extra\":1}\n\n" +
          "event:status_change\r\ndata:{\"status\":\"running\"}\r\n\r\n" +
          "event: agent_error\ndata: {}\n\n"
      )
      assert.deepStrictEqual(yield* Fiber.join(fiber), [
        status("stable", "codex"),
        update(9007199254740993n, "agent", "x", "2025-01-01T10:00:00Z"),
        update(0, "", "", "0001-01-01T00:00:00Z"),
        status("running", ""),
        { _tag: "AgentError", message: "", level: "", time: "0001-01-01T00:00:00Z" }
      ])
    }).pipe(Effect.provide(client)))

  it.live("a malformed event is emitted as Malformed and the stream goes on", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now })
      const fiber = yield* follow(agent, 9)
      yield* agent.sendRaw(
        "event: message_update\ndata: {\"id\": 1,\n\n" + // not JSON
          "event: message_update\ndata: {\"id\":\"x\",\"role\":5}\n\n" + // wrong shape
          "event: message_update\ndata: {\"id\":1.5,\"time\":\"yesterday\"}\n\n" + // not an integer, bad time
          "event: status_change\ndata: {\"status\":\"paused\"}\n\n" + // no such status
          "event: status_change\ndata: {}\n\n" + // no status
          "event: screen_update\ndata: {\"screen\":\"$ \"}\n\n" + // not an /events event
          "data: {\"id\":1}\n\n" // no event name: "message"
      )
      yield* agent.addMessage("agent", "still here")
      const events = yield* Fiber.join(fiber)
      assert.deepStrictEqual(events[0], status("stable"))
      assert.deepStrictEqual(events[8], update(0, "agent", "still here"))
      const bad = malformed(events)
      assert.deepStrictEqual(bad.map((event) => event?.event), [
        "message_update",
        "message_update",
        "message_update",
        "status_change",
        "status_change",
        "screen_update",
        "message"
      ])
      const details = bad.map((event) => event?.detail ?? "")
      assert.match(details[0], /^not JSON: /)
      assert.include(details[1], "id: Expected")
      assert.include(details[1], "role: Expected string, actual 5")
      assert.include(details[2], "id: Expected an integer")
      assert.include(details[3], "status: Expected")
      assert.include(details[4], "status: is missing")
      assert.strictEqual(details[5], "unknown event \"screen_update\"")
      assert.strictEqual(details[6], "unknown event \"message\"")
      for (const detail of details) assert.notInclude(detail, "\n")
    }).pipe(Effect.provide(client)))

  it.live("an event over the size limit is skipped as Malformed without ending the stream", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now })
      const fiber = yield* follow(agent, 9)
      const big = "y".repeat(5000)
      // One long data line, written in pieces (the parser gives up mid-line).
      const line = `event: message_update\ndata: {"id":1,"message":"${big}"}\n\n`
      for (let i = 0; i < line.length; i += 700) {
        yield* agent.sendRaw(line.slice(i, i + 700))
        yield* sleepLive(2)
      }
      yield* agent.addMessage("agent", "after one long line")
      // Many short data lines, CRLF line ends, the empty line's CR and LF in separate writes.
      yield* agent.sendRaw(`event: message_update\r\n${"data: 0123456789\r\n".repeat(500)}`)
      yield* sleepLive(5)
      yield* agent.sendRaw("\r")
      yield* sleepLive(5)
      yield* agent.sendRaw("\n\r\n")
      yield* agent.addMessage("agent", "after many lines")
      // Over the limit by a little, in one write with the event after it.
      yield* agent.sendRaw(
        `event: agent_error\ndata: "${"z".repeat(1000)}"\n\n${
          AgentApiDouble.sseEvent("message_update", { id: 3, role: "agent", message: "same write", time })
        }`
      )
      // Exactly at the limit: kept (and then refused as the wrong shape, for its content).
      yield* agent.sendRaw(`event: agent_error\ndata: "${"z".repeat(998)}"\n\n`)
      yield* agent.addMessage("agent", "the end")
      const events = yield* Fiber.join(fiber)
      assert.deepStrictEqual(events.map((event) => event._tag), [
        "StatusChange",
        "Malformed",
        "MessageUpdate",
        "Malformed",
        "MessageUpdate",
        "Malformed",
        "MessageUpdate",
        "Malformed",
        "MessageUpdate"
      ])
      assert.deepStrictEqual(events[2], update(0, "agent", "after one long line"))
      assert.deepStrictEqual(events[4], update(1, "agent", "after many lines"))
      assert.deepStrictEqual(events[6], update(3, "agent", "same write"))
      assert.deepStrictEqual(events[8], update(2, "agent", "the end"))
      const [, long, , many, , over, , atLimit] = events
      // Skipped as soon as it grows past the limit (unless the network delivers it whole: then checked whole).
      for (const event of [long, many]) {
        assert.include(event._tag === "Malformed" ? event.detail : "", "over the limit of 1000")
      }
      assert.deepStrictEqual(over, {
        _tag: "Malformed",
        event: "agent_error",
        detail: "data of 1002 characters is over the limit of 1000"
      })
      assert.strictEqual(atLimit._tag === "Malformed" && atLimit.event, "agent_error")
      assert.include(atLimit._tag === "Malformed" ? atLimit.detail : "", "Expected")
    }).pipe(Effect.provide(layerWith({ maxEventSize: 1000 }))))

  it.live("the default limit: a message over 16 Mi characters is skipped, the next one comes through", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now, messages: [{ role: "agent", content: "hello" }] })
      const events = yield* open(agent.url)
      assert.deepStrictEqual(yield* events.next(2), [update(0, "agent", "hello"), status("stable")])
      // Written in pieces, as a running agent would grow it; far over the limit.
      const big = AgentApiDouble.sseEvent("message_update", { id: 1, role: "agent", message: "x", time })
        .replace("\"x\"", `"${"x".repeat(defaultMaxEventSize + 1024 * 1024)}"`)
      for (let i = 0; i < big.length; i += 1024 * 1024) yield* agent.sendRaw(big.slice(i, i + 1024 * 1024))
      yield* agent.addMessage("agent", "small")
      const [skipped, small] = yield* events.next(2)
      assert.deepStrictEqual(skipped, {
        _tag: "Malformed",
        event: "",
        detail: `an event over the limit of ${defaultMaxEventSize} characters was skipped`
      })
      assert.deepStrictEqual(small, update(1, "agent", "small"))
    }).pipe(Effect.provide(client)))

  it.live("UTF-8 split across network chunks is decoded whole", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now })
      const fiber = yield* follow(agent, 2)
      const bytes = new TextEncoder().encode(
        AgentApiDouble.sseEvent("message_update", { id: 0, role: "agent", message: "é✓😀", time })
      )
      const cut = bytes.indexOf(0xf0) + 2 // inside the 4-byte emoji
      yield* agent.sendRaw(bytes.slice(0, cut))
      yield* sleepLive(20)
      yield* agent.sendRaw(bytes.slice(cut))
      assert.deepStrictEqual((yield* Fiber.join(fiber))[1], update(0, "agent", "é✓😀"))
    }).pipe(Effect.provide(client)))

  it.live("the stream ends when agentapi closes it, cleanly or not, or goes down", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now, messages: [{ role: "agent", content: "Hi" }] })
      for (const [index, abort] of [false, true].entries()) {
        const events = yield* open(agent.url)
        yield* events.next(index + 2) // the replay
        yield* agent.addMessage("user", `abort ${abort}`)
        assert.deepStrictEqual(yield* events.next(1), [update(index + 1, "user", `abort ${abort}`)])
        assert.strictEqual(yield* agent.dropEventConnections({ abort }), 1)
        assert.deepStrictEqual(yield* events.rest, [])
      }
      const events = yield* open(agent.url)
      assert.strictEqual((yield* events.next(4)).length, 4)
      yield* agent.stop
      assert.deepStrictEqual(yield* events.rest, [])
      // While it is down, connecting fails; once it is back, the replay comes again.
      const refused = requestError(yield* Effect.flip(all(agent.url)))
      assert.strictEqual(refused.reason, "Transport")
      yield* agent.start
      assert.strictEqual((yield* take(agent.url, 4)).length, 4)
    }).pipe(Effect.provide(client)))

  it.live("an agent restarted with its state restored replays the same ids; a fresh one numbers from 0", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({
        now,
        messages: [{ role: "agent", content: "Hi" }, { role: "user", content: "Go" }]
      })
      const before = yield* open(agent.url)
      assert.strictEqual((yield* before.next(3)).length, 3)
      yield* agent.restart({ restore: true })
      assert.deepStrictEqual(yield* before.rest, [])
      assert.deepStrictEqual(yield* take(agent.url, 3), [
        update(0, "agent", "Hi"),
        update(1, "user", "Go"),
        status("stable")
      ])
      yield* agent.restart({ restore: false, messages: [{ role: "agent", content: "Fresh start" }], status: "running" })
      assert.deepStrictEqual(yield* take(agent.url, 2), [update(0, "agent", "Fresh start"), status("running")])
      yield* agent.restart({ restore: false })
      assert.deepStrictEqual(yield* take(agent.url, 1), [status("stable")])
    }).pipe(Effect.provide(client)))

  it.live("the double's agent replies on its own: running, the reply growing, stable; busy is refused", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({
        now,
        autoReply: { text: () => "one two three", steps: 3, stepMs: 100 }
      })
      const api = yield* AgentApiClient
      const fiber = yield* follow(agent, 7)
      assert.deepStrictEqual(yield* api.sendMessage(agent.url, "count"), { ok: true })
      assert.strictEqual(agent.status, "running")
      const busy = requestError(yield* Effect.flip(api.sendMessage(agent.url, "again")))
      assert.strictEqual(busy.status, 500)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [
        status("stable"),
        update(0, "user", "count"),
        status("running"),
        update(1, "agent", "one t"),
        update(1, "agent", "one two t"),
        update(1, "agent", "one two three"),
        status("stable")
      ])
      assert.deepStrictEqual((yield* api.messages(agent.url)).messages.map((message) => message.content), [
        "count",
        "one two three"
      ])
      assert.strictEqual((yield* api.status(agent.url)).status, "stable")
    }).pipe(Effect.provide(client)))

  it.live("a status other than 200, or an answer that is not an event stream, fails the stream", () =>
    Effect.gen(function*() {
      const missing = yield* fakeServer(respond(404, { title: "Not Found" }))
      const notFound = requestError(yield* Effect.flip(all(missing.url)))
      assert.strictEqual(notFound.operation, "events")
      assert.strictEqual(notFound.reason, "Status")
      assert.strictEqual(notFound.status, 404)
      assert.strictEqual(notFound.detail, `GET ${missing.url}/events: status 404`)
      assert.strictEqual(missing.requests[0].headers.accept, "text/event-stream")

      const json = yield* fakeServer(respond(200, { messages: [] }))
      const notStream = requestError(yield* Effect.flip(all(json.url)))
      assert.strictEqual(notStream.reason, "Decode")
      assert.strictEqual(
        notStream.detail,
        `GET ${json.url}/events: not an event stream: content-type "application/json"`
      )
    }).pipe(Effect.provide(client)))

  it.live("a refused connection is a Transport error; https is refused before any request", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const refused = requestError(yield* Effect.flip(all(`http://127.0.0.1:${port}`)))
      assert.strictEqual(refused.operation, "events")
      assert.strictEqual(refused.reason, "Transport")
      assert.match(refused.detail, new RegExp(`^GET http://127.0.0.1:${port}/events: .*ECONNREFUSED`))
      const https = yield* Effect.flip(all(`https://127.0.0.1:${port}`))
      assert.instanceOf(https, AgentApiUnsupportedScheme)
      assert.strictEqual((https as AgentApiUnsupportedScheme).operation, "events")
    }).pipe(Effect.provide(client)))

  it.live("the request timeout bounds the response headers only, not the stream", () =>
    Effect.gen(function*() {
      const silentServer = yield* fakeServer(silent)
      const timedOut = requestError(yield* Effect.flip(all(silentServer.url)))
      assert.strictEqual(timedOut.reason, "Timeout")
      assert.strictEqual(timedOut.detail, `GET ${silentServer.url}/events: timed out after 200ms`)

      const agent = yield* AgentApiDouble.make({ now })
      const fiber = yield* follow(agent, 2)
      yield* sleepLive(500)
      yield* agent.addMessage("agent", "later than the request timeout")
      assert.deepStrictEqual((yield* Fiber.join(fiber))[1], update(0, "agent", "later than the request timeout"))
    }).pipe(Effect.provide(layerWith({ requestTimeout: "200 millis" }))))

  it.live("interrupting the stream closes the connection", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ now })
      const fiber = yield* Effect.forkChild(all(agent.url))
      yield* agent.awaitEventConnections(1)
      yield* Fiber.interrupt(fiber)
      yield* agent.awaitEventConnections(0)
    }).pipe(Effect.provide(client)))
})
