/**
 * Recording across processes (issue 12 §1), with `taskd serve` child processes and the agentapi double in
 * this process as the tasks' app (the template's `app_url`; the instant provisioner, so each task stays
 * initializing, which is recorded like active): taskd killed with SIGKILL while recording and started
 * again, on the embedded database and on Postgres; and two instances on one Postgres (Postgres only, with
 * TEST_DATABASE_URL), where the one recording is killed, or shut down cleanly, and the other takes over.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as AgentApiDouble from "./support/AgentApiDouble.ts"
import * as Backends from "./support/Backends.ts"
import * as ChildServer from "./support/ChildServer.ts"
import { sleepLive } from "./support/Net.ts"
import { instanceOf, query } from "./support/Postgres.ts"
import { pollUntil } from "./support/TaskFlow.ts"

const testDatabaseUrl = Backends.testDatabaseUrl

/** Said in the names of the tests that need it, so that a run without it shows why they were skipped. */
const needs = "(Postgres only: needs TEST_DATABASE_URL)"

/** Fast takeovers: a killed instance counts as gone 2 s after its last heartbeat. */
const fast = { TASKD_INSTANCE_TIMEOUT: "2 seconds", TASKD_RECORDER_POLL: "250 millis" }

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(Path.join(tmpdir(), "taskd-recorder-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A task whose app is `agent`, created through `base`; returns its id. */
const taskOn = (base: string, agent: AgentApiDouble.AgentApiDouble) =>
  Effect.promise(async () => {
    const template = await ChildServer.call(base, "POST", "/api/v2/organizations/default/templates", {
      body: { name: `tpl-${Math.random().toString(16).slice(2, 8)}`, app_url: agent.url }
    })
    assert.strictEqual(template.status, 201, template.text)
    const task = await ChildServer.call(base, "POST", "/api/v2/tasks/me", {
      body: { template_version_id: template.json.active_version_id, input: "work" }
    })
    assert.strictEqual(task.status, 201, task.text)
    const taskId: string = task.json.id
    return taskId
  })

/** The recorded history as `position:type:content`, read through `base`. */
const historyOf = (base: string, taskId: string) =>
  Effect.promise(async () => {
    const response = await ChildServer.call(base, "GET", `/api/v2/tasks/me/${taskId}/messages?limit=1000`)
    if (response.status !== 200) return [`status ${response.status}`]
    return (response.json.messages as Array<{ id: number; type: string; content: string }>).map((message) =>
      `${message.id}:${message.type}:${message.content}`
    )
  })

/** What the history must become: the double's conversation, as positions 1, 2, 3... of one epoch. */
const expectedHistory = (agent: AgentApiDouble.AgentApiDouble) =>
  agent.messages.map((message) =>
    `${message.id + 1}:${message.role === "user" ? "input" : "output"}:${message.content}`
  )

const waitForHistory = (base: string, taskId: string, expected: () => ReadonlyArray<string>, deadlineMs = 30_000) =>
  pollUntil(
    historyOf(base, taskId),
    (history) => JSON.stringify(history) === JSON.stringify(expected()),
    (last) => `history ${JSON.stringify(last)}, expected ${JSON.stringify(expected())}`,
    deadlineMs
  )

/** An agent that works hard: it grows its last message every few milliseconds until interrupted. */
const busyAgent = (agent: AgentApiDouble.AgentApiDouble) =>
  Effect.gen(function*() {
    for (let i = 1;; i++) {
      yield* agent.updateLastMessage(`working, step ${i}`)
      yield* sleepLive(3)
    }
  })

/** Kills `child` with SIGKILL while `agent` is busy; the agent goes on a little, then settles. */
const killWhileBusy = (child: ChildServer.Child, agent: AgentApiDouble.AgentApiDouble) =>
  Effect.gen(function*() {
    yield* agent.setStatus("running")
    yield* agent.addMessage("agent", "working")
    const busy = yield* Effect.forkChild(busyAgent(agent))
    yield* sleepLive(300)
    child.signal("SIGKILL")
    yield* Effect.promise(() => child.exited(10_000))
    yield* sleepLive(200)
    yield* Fiber.interrupt(busy)
    yield* agent.updateLastMessage("finished while taskd was down")
    yield* agent.setStatus("stable")
    yield* agent.addMessage("user", "Thanks!")
  })

const databases = [
  { name: "embedded", postgres: false },
  ...(testDatabaseUrl === undefined ? [] : [{ name: "postgres", postgres: true }])
]

describe("recording across processes", () => {
  for (const database of databases) {
    it.live(
      `taskd killed with SIGKILL while recording, then started again: the history is complete, no duplicates [${database.name}]`,
      () =>
        Effect.gen(function*() {
          const env = database.postgres
            ? { DATABASE_URL: yield* Backends.freshPostgresUrl(testDatabaseUrl!) }
            : { TASKD_DATA_DIR: Path.join(yield* scratch, "data") }
          const agent = yield* AgentApiDouble.make({ messages: [{ role: "agent", content: "Hello!" }] })
          const first = yield* ChildServer.start({ ...env, ...fast })
          const taskId = yield* taskOn(first.url, agent)
          yield* agent.addMessage("user", "Build it")
          yield* waitForHistory(first.url, taskId, () => expectedHistory(agent))

          yield* killWhileBusy(first, agent)
          const second = yield* ChildServer.start({ ...env, ...fast })
          yield* waitForHistory(second.url, taskId, () => expectedHistory(agent))
          // And it follows the agent live again.
          yield* agent.addMessage("agent", "You're welcome.")
          yield* waitForHistory(second.url, taskId, () => expectedHistory(agent))
        }),
      180_000
    )
  }

  it.live("TASKD_RECORDER=off: the instance records nothing, and says so", () =>
    Effect.gen(function*() {
      const agent = yield* AgentApiDouble.make({ messages: [{ role: "agent", content: "Hello!" }] })
      const child = yield* ChildServer.start({
        TASKD_DATA_DIR: Path.join(yield* scratch, "data"),
        TASKD_RECORDER: "off"
      })
      const taskId = yield* taskOn(child.url, agent)
      const task = yield* Effect.promise(() => ChildServer.call(child.url, "GET", `/api/v2/tasks/me/${taskId}`))
      assert.strictEqual(task.json.status, "initializing")
      // Rounds run every second on the embedded database: a recorder would have connected by now.
      yield* sleepLive(3_000)
      assert.strictEqual(agent.eventConnections, 0)
      assert.deepStrictEqual(yield* historyOf(child.url, taskId), [])
      assert.include(child.output(), "TASKD_RECORDER is off")
    }), 120_000)

  describe.skipIf(testDatabaseUrl === undefined)(`two instances on one Postgres ${needs}`, () => {
    const recorderOf = (databaseUrl: string, taskId: string) =>
      query(databaseUrl, "SELECT recorder_instance FROM task_streams WHERE task_id = $1", [taskId]).pipe(
        Effect.map((rows) => (rows[0]?.["recorder_instance"] ?? null) as string | null)
      )

    /** Two instances; the task is created, and recorded, on the first before the second starts. */
    const recordedOnFirst = (env: Record<string, string>) =>
      Effect.gen(function*() {
        const databaseUrl = yield* Backends.freshPostgresUrl(testDatabaseUrl!)
        const agent = yield* AgentApiDouble.make({ messages: [{ role: "agent", content: "Hello!" }] })
        const first = yield* ChildServer.start({ DATABASE_URL: databaseUrl, ...env })
        const firstId = yield* instanceOf(databaseUrl, first)
        const taskId = yield* taskOn(first.url, agent)
        yield* pollUntil(recorderOf(databaseUrl, taskId), (holder) => holder === firstId, (last) => `held by ${last}`)
        const second = yield* ChildServer.start({ DATABASE_URL: databaseUrl, ...env })
        const secondId = yield* instanceOf(databaseUrl, second)
        yield* agent.addMessage("user", "Build it")
        // Recorded by the first, read through the second.
        yield* waitForHistory(second.url, taskId, () => expectedHistory(agent))
        // One recorder: the second never claims a task whose recorder lives.
        yield* sleepLive(1_000)
        assert.strictEqual(yield* recorderOf(databaseUrl, taskId), firstId)
        assert.strictEqual(agent.eventConnections, 1)
        return { agent, databaseUrl, first, second, secondId, taskId }
      })

    it.live(
      "the instance recording is killed: the other takes over once its heartbeat is stale, nothing lost or doubled",
      () =>
        Effect.gen(function*() {
          const { agent, databaseUrl, first, second, secondId, taskId } = yield* recordedOnFirst(fast)
          yield* killWhileBusy(first, agent)
          const killed = Date.now()
          yield* pollUntil(
            recorderOf(databaseUrl, taskId),
            (holder) => holder === secondId,
            (last) => `held by ${last}`
          )
          yield* waitForHistory(second.url, taskId, () => expectedHistory(agent))
          // A bound far above the 2 s timeout, far below never.
          assert.isBelow(Date.now() - killed, 15_000)
          yield* agent.addMessage("agent", "You're welcome.")
          yield* waitForHistory(second.url, taskId, () => expectedHistory(agent))
          assert.strictEqual(agent.eventConnections, 1)
        }),
      180_000
    )

    it.live(
      "the instance recording shuts down cleanly: it releases the task and the other takes over at once",
      () =>
        Effect.gen(function*() {
          // A timeout no test waits for: only the release can explain a takeover.
          const { agent, databaseUrl, first, second, secondId, taskId } = yield* recordedOnFirst({
            TASKD_INSTANCE_TIMEOUT: "120 seconds",
            TASKD_RECORDER_POLL: "250 millis"
          })
          first.signal("SIGTERM")
          yield* Effect.promise(() => first.exited(30_000))
          yield* pollUntil(
            recorderOf(databaseUrl, taskId),
            (holder) => holder === secondId,
            (last) => `held by ${last}`,
            20_000
          )
          yield* agent.addMessage("agent", "Still here.")
          yield* waitForHistory(second.url, taskId, () => expectedHistory(agent))
        }),
      180_000
    )
  })
})
