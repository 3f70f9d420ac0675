/**
 * The event stream of one task (`GET /api/v2/tasks/{user}/{task}/events`, issue 12 §2-3), on each backend,
 * read through the typed client (its own SSE decoder) and as bytes: the current state and its ids, live
 * changes, `Last-Event-ID` resume, the per-user limit, overflow, keepalive comments, the 404s, and the
 * end of streams at shutdown. Changes are driven as the recorder makes them (ConversationRepo) and through
 * the API (pause, delete). The job runner is off: a pause's build stays queued.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { followTask, makeClient } from "../src/Client.ts"
import { type AgentMessage, ConversationRepo } from "../src/Conversations/ConversationRepo.ts"
import type { TaskStreamEvent } from "../src/Domain/Conversation.ts"
import { Lifecycle } from "../src/Health/Lifecycle.ts"
import * as Backends from "./support/Backends.ts"
import { openRaw, reader } from "./support/EventStreams.ts"
import {
  createTaskWorkspace,
  createTemplate,
  createUser,
  setLatestJobStatus,
  type TestUser
} from "./support/Fixtures.ts"
import { pollUntil, standard404, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const time = "2026-12-02T10:00:00Z"
const at = new Date(time)
const user = (id: number, content: string): AgentMessage => ({ id, role: "user", content, time })
const agent = (id: number, content: string): AgentMessage => ({ id, role: "agent", content, time })

/** The recorder is off: the tests write the conversation themselves, as it would. */
const settings = {
  TASKD_JOB_WORKERS: "0",
  TASKD_RECORDER: "off",
  TASKD_MAX_STREAMS_PER_USER: "3",
  TASKD_STREAM_KEEPALIVE: "300 millis"
}

const repo = <A, E, R>(f: (repo: ConversationRepo["Service"]) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    return yield* f(yield* ConversationRepo)
  }).pipe(Effect.provide(ConversationRepo.layer))

const activeTask = Effect.gen(function*() {
  const owner = yield* createUser("member")
  const template = yield* createTemplate()
  const task = yield* createTaskWorkspace(owner, template)
  return { owner, task }
})

/** The task's stream as `owner` reads it, read in the background for the life of the scope. */
const follow = (owner: TestUser, taskId: string, lastEventId?: string) =>
  Effect.gen(function*() {
    const client = yield* TestServer.clientFor(owner.token)
    const stream = yield* client.conversations.taskEvents({
      params: { user: "me", task: taskId },
      headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId }
    })
    return yield* reader(stream)
  })

const summary = (event: TaskStreamEvent) => {
  switch (event.event) {
    case "task":
      return `${event.id} task ${event.data.status}`
    case "message":
      return `${event.id} message ${event.data.id} ${event.data.type} ${event.data.content}`
    case "agent":
      return `${event.id} agent ${event.data.status}`
    case "queue":
      return `${event.id} queue ${event.data.id} ${event.data.state}`
    case "task_deleted":
      return `${event.id} task_deleted ${event.data.id}`
    case "overflow":
      return `${event.id} overflow`
  }
}

const headSeq = (taskId: string) => repo((r) => Effect.map(r.head(taskId), (head) => head!.seq))

for (const backend of Backends.all) {
  layer(TestServer.layer(backend).pipe(Layer.provide(withEnv(settings))), {
    timeout: 120_000,
    excludeTestServices: true
  })(`task events [${backend.name}]`, (it) => {
    it.effect("the current state: the task, the agent's status, each message in order; ids are cursors", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const t = yield* headSeq(task.taskId)
        yield* repo((r) => r.record(task.taskId, [agent(0, "hello"), user(1, "do it")], { _tag: "replay" }, at))
        yield* repo((r) => r.recordAgentStatus(task.taskId, "running"))
        yield* repo((r) => r.record(task.taskId, [agent(2, "work")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.record(task.taskId, [agent(0, "hello!")], { _tag: "live", epoch: 1 }, at))
        // Numbers: m1 t+1 (then t+5), m2 t+2, agent t+3, m3 t+4. Each event's id is the lowest number of
        // the items after it, minus one; the last one is the head, t+5.
        const events = yield* follow(owner, task.taskId)
        const got = yield* events.take(5)
        const client = yield* TestServer.clientFor(owner.token)
        const current = yield* client.tasks.get({ params: { user: "me", task: task.taskId } })
        assert.deepStrictEqual(got[0], { id: String(t + 1), event: "task", data: current })
        assert.deepStrictEqual(got.slice(1).map(summary), [
          `${t + 1} agent running`,
          `${t + 1} message 1 output hello!`,
          `${t + 3} message 2 input do it`,
          `${t + 5} message 3 output work`
        ])
      }).pipe(Effect.scoped))

    it.effect("queued input: queued and cancelled live; a message still queued is in the current state", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const client = yield* TestServer.clientFor(owner.token)
        const params = { user: "me", task: task.taskId }
        const events = yield* follow(owner, task.taskId)
        yield* events.take(1)
        // The agent's status is unknown (no recorder here): nothing is sent, the messages stay queued.
        // One change at a time: a subscriber gets each queued message at its latest state when it reads.
        const first = yield* client.queue.enqueue({ params, payload: { input: "one" } })
        const live = [...yield* events.take(1)]
        const second = yield* client.queue.enqueue({ params, payload: { input: "two" } })
        live.push(...yield* events.take(1))
        yield* client.queue.cancel({ params: { ...params, id: first.id } })
        live.push(...yield* events.take(1))
        assert.deepStrictEqual(live.map(summary).map((line) => line.split(" ").slice(1).join(" ")), [
          `queue ${first.id} queued`,
          `queue ${second.id} queued`,
          `queue ${first.id} cancelled`
        ])
        const ids = live.map((event) => Number(event.id))
        assert.isTrue(ids[0]! < ids[1]! && ids[1]! < ids[2]!)
        // A new subscriber: the task, then the one message still queued, its id a cursor before the head.
        const again = yield* follow(owner, task.taskId)
        const dump = yield* again.take(2)
        assert.strictEqual(dump[0]!.event, "task")
        assert.strictEqual(summary(dump[1]!).split(" ").slice(1).join(" "), `queue ${second.id} queued`)
        assert.strictEqual(Number(dump[1]!.id), yield* headSeq(task.taskId))
        // Resuming after the first event gives the rest, at their latest state.
        const resumed = yield* follow(owner, task.taskId, String(ids[0]))
        const rest = yield* resumed.take(2)
        assert.deepStrictEqual(rest.map(summary).map((line) => line.split(" ").slice(1).join(" ")), [
          `queue ${second.id} queued`,
          `queue ${first.id} cancelled`
        ])
      }).pipe(Effect.scoped))

    it.effect("live: new and changed messages with their numbers, the agent, the task; deletion ends it", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        yield* repo((r) => r.record(task.taskId, [agent(0, "hello")], { _tag: "replay" }, at))
        const events = yield* follow(owner, task.taskId)
        const [, first] = yield* events.take(2)
        assert.strictEqual(summary(first!).split(" ").slice(1).join(" "), "message 1 output hello")
        const s0 = Number(first!.id)

        yield* repo((r) => r.record(task.taskId, [user(1, "more")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.record(task.taskId, [agent(2, "on")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.record(task.taskId, [agent(2, "on it")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.recordAgentStatus(task.taskId, "stable"))
        const live = (yield* events.until((event) => event.event === "agent")).map(summary)
        // A change read together with a later one of the same message comes at its latest text only.
        const sent = live.filter((line) => line !== `${s0 + 2} message 3 output on`)
        assert.deepStrictEqual(sent, [
          `${s0 + 1} message 2 input more`,
          `${s0 + 3} message 3 output on it`,
          `${s0 + 4} agent stable`
        ])

        const client = yield* TestServer.clientFor(owner.token)
        yield* client.tasks.pause({ params: { user: "me", task: task.taskId } })
        const paused = yield* client.tasks.get({ params: { user: "me", task: task.taskId } })
        const changed = yield* events.until((event) => event.event === "task" && event.data.status === paused.status)
        assert.deepStrictEqual(changed.at(-1)!.data, paused)
        assert.isAbove(Number(changed.at(-1)!.id), s0 + 4)
        // The stop build finishes (as the job runner would finish it): paused.
        yield* setLatestJobStatus(task, "succeeded")
        const stopped = yield* events.until((event) => event.event === "task" && event.data.status === "paused")
        assert.deepStrictEqual(
          stopped.at(-1)!.data,
          yield* client.tasks.get({ params: { user: "me", task: task.taskId } })
        )

        yield* client.tasks.delete({ params: { user: "me", task: task.taskId } })
        const last = yield* events.until((event) => event.event === "task_deleted")
        assert.deepStrictEqual(last.at(-1)!.data, { id: task.taskId })
        assert.deepStrictEqual(yield* events.end, [])
      }).pipe(Effect.scoped))

    it.effect("Last-Event-ID: every change after it, once, at its latest; then live", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        yield* repo((r) => r.record(task.taskId, [agent(0, "a"), user(1, "b")], { _tag: "replay" }, at))
        const cursor = yield* Effect.scoped(Effect.gen(function*() {
          const events = yield* follow(owner, task.taskId)
          const dump = yield* events.take(3)
          return dump.at(-1)!.id!
        }))
        // Missed while away: a new message, a grown one (twice: only its latest text comes), the agent.
        yield* repo((r) => r.record(task.taskId, [agent(2, "c")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.record(task.taskId, [user(1, "b2")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.record(task.taskId, [agent(2, "c2")], { _tag: "live", epoch: 1 }, at))
        yield* repo((r) => r.recordAgentStatus(task.taskId, "running"))
        const c = Number(cursor)
        const events = yield* follow(owner, task.taskId, cursor)
        assert.deepStrictEqual((yield* events.take(3)).map(summary), [
          `${c + 2} message 2 input b2`,
          `${c + 3} message 3 output c2`,
          `${c + 4} agent running`
        ])
        yield* repo((r) => r.record(task.taskId, [agent(3, "d")], { _tag: "live", epoch: 1 }, at))
        assert.strictEqual(summary(yield* events.next), `${c + 5} message 4 output d`)

        // Nothing missed: the stream says so by sending nothing before the next live change.
        const upToDate = yield* follow(owner, task.taskId, String(c + 5))
        yield* repo((r) => r.recordAgentStatus(task.taskId, "stable"))
        assert.strictEqual(summary(yield* upToDate.next), `${c + 6} agent stable`)
      }).pipe(Effect.scoped))

    it.effect("Last-Event-ID malformed or beyond the task's changes: the current state instead", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        yield* repo((r) => r.record(task.taskId, [agent(0, "a")], { _tag: "replay" }, at))
        for (const id of ["x", "-1", "1.5", "99999999", ""]) {
          const got = yield* Effect.scoped(Effect.flatMap(follow(owner, task.taskId, id), (events) => events.take(2)))
          assert.deepStrictEqual(got.map((event) => event.event), ["task", "message"], `Last-Event-ID ${id}`)
        }
      }))

    it.effect("the wire: text/event-stream, no caching, id lines, keepalive comments", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        yield* repo((r) => r.record(task.taskId, [agent(0, "two\nlines")], { _tag: "replay" }, at))
        const { url } = yield* TestServer.baseUrl
        const raw = yield* openRaw(url, `/api/v2/tasks/me/${task.taskId}/events`, { token: owner.token })
        assert.strictEqual(raw.status, 200)
        assert.strictEqual(raw.headers["content-type"], "text/event-stream")
        assert.strictEqual(raw.headers["cache-control"], "no-cache")
        assert.strictEqual(raw.headers["x-accel-buffering"], "no")
        // One comment line when the stream opens, then one at each of the change feed's ticks (300 ms here).
        const text = yield* raw.waitFor((text) => text.split(": keepalive\n").length > 3)
        const [taskEvent, message] = text.split("\n\n").filter((frame) => !frame.startsWith(":"))
        assert.match(taskEvent!, /^id: \d+\nevent: task\ndata: \{"id":"/)
        const seq = yield* headSeq(task.taskId)
        // "message" is the SSE default event name: Effect's encoder leaves the line out, as the standard allows.
        assert.strictEqual(
          message,
          `id: ${seq}\ndata: {"id":1,"type":"output","content":"two\\nlines","time":"${time}"}`
        )
      }).pipe(Effect.scoped))

    it.effect("a task the caller cannot see is the standard 404; no stream is opened", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const other = yield* createUser("member")
        const { url } = yield* TestServer.baseUrl
        for (
          const path of [
            `/api/v2/tasks/me/${task.taskId}/events`,
            `/api/v2/tasks/${owner.username}/${task.name}/events`
          ]
        ) {
          const raw = yield* openRaw(url, path, { token: other.token })
          assert.strictEqual(raw.status, 404)
          assert.deepStrictEqual(JSON.parse(yield* raw.ended), standard404)
        }
        const client = yield* TestServer.clientFor(other.token)
        const error = yield* Effect.flip(
          client.conversations.taskEvents({ params: { user: "me", task: task.taskId }, headers: {} })
        )
        assert.strictEqual(error._tag, "NotFound")
        const following = yield* Effect.flip(Stream.runDrain(followTask(client, { user: "me", task: task.taskId })))
        assert.strictEqual(following._tag, "NotFound")
      }).pipe(Effect.scoped))

    it.effect("TASKD_MAX_STREAMS_PER_USER: one stream more is a 429 naming it; a closed one frees its place", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const client = yield* TestServer.clientFor(owner.token)
        const open = () =>
          Effect.gen(function*() {
            const events = yield* follow(owner, task.taskId)
            yield* events.next
          })
        const first = yield* Effect.forkScoped(Effect.scoped(Effect.andThen(open(), Effect.never)))
        yield* open()
        const watchAll = yield* client.conversations.tasksEvents({ query: {}, headers: {} })
        yield* reader(watchAll)
        const refused = yield* Effect.flip(
          client.conversations.taskEvents({ params: { user: "me", task: task.taskId }, headers: {} })
        )
        assert.strictEqual(refused._tag, "TooManyRequests")
        assert.include(refused._tag === "TooManyRequests" ? refused.detail : "", "TASKD_MAX_STREAMS_PER_USER")
        const { url } = yield* TestServer.baseUrl
        const raw = yield* openRaw(url, "/api/v2/tasks/events", { token: owner.token })
        assert.strictEqual(raw.status, 429)
        assert.strictEqual(JSON.parse(yield* raw.ended).message, "Too many open event streams.")
        // Another user is not counted with this one.
        const { owner: someoneElse, task: theirs } = yield* activeTask
        yield* Effect.flatMap(follow(someoneElse, theirs.taskId), (events) => events.next)

        yield* Fiber.interrupt(first)
        yield* pollUntil(
          Effect.exit(Effect.scoped(open())),
          (exit) => exit._tag === "Success",
          () => "the closed stream's place was never freed"
        )
      }).pipe(Effect.scoped))

    it.effect("followTask: the current state, then live changes, and the end at the task's deletion", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        yield* repo((r) => r.record(task.taskId, [agent(0, "a")], { _tag: "replay" }, at))
        // The CLI's client (src/Client.ts): its exact-int64 reading of JSON answers leaves streams alone.
        const client = yield* makeClient({ baseUrl: "", token: owner.token })
        const events = yield* reader(followTask(client, { user: "me", task: task.taskId, retryAfter: "20 millis" }))
        assert.deepStrictEqual((yield* events.take(2)).map((event) => event.event), ["task", "message"])
        yield* repo((r) => r.record(task.taskId, [user(1, "b")], { _tag: "live", epoch: 1 }, at))
        const next = yield* events.next
        assert.strictEqual(next.event === "message" && next.data.content, "b")
        yield* client.tasks.delete({ params: { user: "me", task: task.taskId } })
        const rest = yield* events.end
        assert.strictEqual(rest.at(-1)?.event, "task_deleted")
      }).pipe(Effect.scoped))
  })

  // A tiny buffer, and a Lifecycle built outside the server (as the standalone server builds it), so that
  // the test can drain the instance.
  layer(
    TestServer.layer(backend).pipe(
      Layer.provideMerge(Lifecycle.layer),
      Layer.provide(withEnv({ ...settings, TASKD_STREAM_BUFFER: "3" }))
    ),
    { timeout: 120_000, excludeTestServices: true }
  )(`task events: overflow and shutdown [${backend.name}]`, (it) => {
    it.effect("a subscriber more than TASKD_STREAM_BUFFER changes behind gets overflow, then resumes losing nothing", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const events = yield* follow(owner, task.taskId)
        const [dumped] = yield* events.take(1)
        // Six new messages in one write: one read of the task's changes, six for a buffer of three.
        const burst = Array.from({ length: 6 }, (_, i) => agent(i, `m${i}`))
        yield* repo((r) => r.record(task.taskId, burst, { _tag: "replay" }, at))
        const rest = yield* events.end
        assert.deepStrictEqual(rest.map(summary), [`${dumped!.id} overflow`])

        const resumed = yield* follow(owner, task.taskId, dumped!.id)
        assert.deepStrictEqual(
          (yield* resumed.take(6)).map((event) => event.event === "message" ? event.data.content : event.event),
          ["m0", "m1", "m2", "m3", "m4", "m5"]
        )
      }).pipe(Effect.scoped))

    it.effect("a client that stops reading is sent overflow once it reads again, and the stream ends", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const { url } = yield* TestServer.baseUrl
        const raw = yield* openRaw(url, `/api/v2/tasks/me/${task.taskId}/events`, { token: owner.token, paused: true })
        assert.strictEqual(raw.status, 200)
        // 24 MiB of messages, one write each: far more than the socket holds, so the server's writes block,
        // the changes pile up in the stream's buffer of three, and it overflows.
        const big = "x".repeat(1024 * 1024 - 100)
        for (let i = 0; i < 24; i++) {
          yield* repo((r) =>
            r.record(
              task.taskId,
              [agent(i, `${i}${big}`)],
              i === 0 ? { _tag: "replay" } : { _tag: "live", epoch: 1 },
              at
            )
          )
        }
        yield* raw.resume
        const text = yield* raw.ended
        const frames = text.split("\n\n").filter((frame) => frame !== "" && !frame.startsWith(":"))
        const last = frames.at(-1)!
        assert.match(last, /^id: \d+\nevent: overflow\ndata: \{\}$/)
        // Its id is the cursor of the last event before it: resuming from it loses nothing.
        const before = frames.at(-2)!.match(/^id: (\d+)/)![1]
        assert.strictEqual(last.match(/^id: (\d+)/)![1], before)
        assert.isBelow(frames.length, 26)
      }).pipe(Effect.scoped))

    it.effect("followTask reads through an overflow", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const client = yield* makeClient({ baseUrl: "", token: owner.token })
        const events = yield* reader(followTask(client, { user: "me", task: task.taskId, retryAfter: "20 millis" }))
        yield* events.take(1)
        const burst = Array.from({ length: 6 }, (_, i) => agent(i, `m${i}`))
        yield* repo((r) => r.record(task.taskId, burst, { _tag: "replay" }, at))
        const got = yield* events.take(6)
        assert.deepStrictEqual(got.map((event) => event.event === "message" ? event.data.content : event.event), [
          "m0",
          "m1",
          "m2",
          "m3",
          "m4",
          "m5"
        ])
      }).pipe(Effect.scoped))

    it.effect("streams end when the instance starts draining; new ones end at once", () =>
      Effect.gen(function*() {
        const { owner, task } = yield* activeTask
        const events = yield* follow(owner, task.taskId)
        yield* events.take(1)
        const { url } = yield* TestServer.baseUrl
        const raw = yield* openRaw(url, "/api/v2/tasks/events", { token: owner.token })
        const lifecycle = yield* Lifecycle
        yield* lifecycle.drain
        assert.deepStrictEqual(yield* events.end, [])
        yield* raw.ended
        const late = yield* follow(owner, task.taskId)
        yield* late.end
      }).pipe(Effect.scoped))
  })
}

describe.skipIf(Backends.testDatabaseUrl === undefined)(
  "task events across instances (Postgres only: needs TEST_DATABASE_URL)",
  () => {
    it.live("a change written through one instance reaches a subscriber of the other (LISTEN/NOTIFY)", () =>
      Effect.gen(function*() {
        const databaseUrl = yield* Backends.freshPostgresUrl(Backends.testDatabaseUrl!)
        const a = yield* TestServer.instance(databaseUrl)
        const b = yield* TestServer.instance(databaseUrl)
        const { owner, task } = yield* a.run(activeTask)
        const events = yield* b.run(follow(owner, task.taskId))
        yield* events.take(1)
        yield* a.run(repo((r) => r.record(task.taskId, [agent(0, "from a")], { _tag: "replay" }, at)))
        const next = yield* events.next
        assert.strictEqual(next.event === "message" && next.data.content, "from a")
      }).pipe(Effect.scoped, Effect.provide(withEnv(settings))))
  }
)
