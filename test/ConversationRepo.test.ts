/**
 * The conversation repository alone, on each backend: how messages of agentapi processes become one
 * history (sql/0008 taskd_record_messages), how snapshots fill it in, and the numbered changes that the
 * event streams are read from.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type AgentMessage, capMessage, ConversationRepo } from "../src/Conversations/ConversationRepo.ts"
import { maxMessageBytes } from "../src/Domain/Conversation.ts"
import * as Backends from "./support/Backends.ts"
import { createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import * as TestServer from "./support/TestServer.ts"

const time = "2026-12-02T10:00:00Z"
const at = new Date("2026-12-02T10:00:00Z")
const user = (id: number, content: string): AgentMessage => ({ id, role: "user", content, time })
const agent = (id: number, content: string): AgentMessage => ({ id, role: "agent", content, time })

const newTask = Effect.gen(function*() {
  const owner = yield* createUser("member")
  const template = yield* createTemplate()
  return yield* createTaskWorkspace(owner, template)
})

const history = (taskId: string) =>
  Effect.gen(function*() {
    const repo = yield* ConversationRepo
    const page = yield* repo.page(taskId, 0, 1000)
    return page.messages.map((m) => `${m.id}:${m.type}:${m.content}`)
  })

const storeSnapshot = (taskId: string, messages: ReadonlyArray<AgentMessage>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const envelope = JSON.stringify({ format: "agentapi", data: { messages } })
    yield* sql`SELECT store_task_snapshot(${taskId}, ${envelope}::jsonb, now())`
  }).pipe(Effect.orDie)

for (const backend of Backends.all) {
  layer(TestServer.layer(backend), { timeout: 120_000 })(`conversation repository [${backend.name}]`, (it) => {
    const withRepo = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, ConversationRepo.layer)

    it.effect("a replay then live updates: positions from 1, the last message updated in place", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        const epoch = yield* repo.record(task.taskId, [agent(0, "hello"), user(1, "do it")], { _tag: "replay" }, at)
        assert.strictEqual(epoch, 1)
        yield* repo.record(task.taskId, [agent(2, "work")], { _tag: "live", epoch: 1 }, at)
        yield* repo.record(task.taskId, [agent(2, "working on it")], { _tag: "live", epoch: 1 }, at)
        assert.deepStrictEqual(yield* history(task.taskId), [
          "1:output:hello",
          "2:input:do it",
          "3:output:working on it"
        ])
      })))

    it.effect("a reconnect replaying the same conversation duplicates nothing; a grown last message updates", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(task.taskId, [agent(0, "hello"), user(1, "do it"), agent(2, "wor")], { _tag: "replay" }, at)
        yield* repo.recordAgentStatus(task.taskId, "running")
        const head = yield* repo.head(task.taskId)
        // The agent kept running while taskd was away: its last message grew, and another came.
        const epoch = yield* repo.record(
          task.taskId,
          [agent(0, "hello"), user(1, "do it"), agent(2, "work done"), user(3, "thanks")],
          { _tag: "replay" },
          at
        )
        assert.strictEqual(epoch, 1)
        assert.deepStrictEqual(yield* history(task.taskId), [
          "1:output:hello",
          "2:input:do it",
          "3:output:work done",
          "4:input:thanks"
        ])
        const changes = yield* repo.changesSince(task.taskId, head!.seq)
        assert.deepStrictEqual(changes.map((c) => c._tag === "message" ? c.message.id : c._tag), [3, 4])
      })))

    it.effect("a fresh agent process (ids from 0, new texts) opens a new epoch after the old history", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(task.taskId, [agent(0, "hello"), user(1, "one")], { _tag: "replay" }, at)
        yield* repo.recordAgentStatus(task.taskId, "stable")
        const epoch = yield* repo.record(task.taskId, [agent(0, "hello again")], { _tag: "replay" }, at)
        assert.strictEqual(epoch, 2)
        yield* repo.record(task.taskId, [user(1, "two")], { _tag: "live", epoch: 2 }, at)
        assert.deepStrictEqual(yield* history(task.taskId), [
          "1:output:hello",
          "2:input:one",
          "3:output:hello again",
          "4:input:two"
        ])
      })))

    it.effect("a final message that comes back different is a new process, not an update", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(task.taskId, [agent(0, "hello")], { _tag: "replay" }, at)
        yield* repo.recordAgentStatus(task.taskId, "stable")
        // The same greeting but the process has fewer messages than recorded: a fresh start.
        yield* repo.record(task.taskId, [agent(0, "hello"), user(1, "a")], { _tag: "live", epoch: 1 }, at)
        const epoch = yield* repo.record(task.taskId, [agent(0, "hello")], { _tag: "replay" }, at)
        assert.strictEqual(epoch, 2)
        // Stable, so the greeting was final: a different one is another conversation.
        const third = yield* repo.record(task.taskId, [agent(0, "hi")], { _tag: "replay" }, at)
        assert.strictEqual(third, 3)
        assert.deepStrictEqual(yield* history(task.taskId), [
          "1:output:hello",
          "2:input:a",
          "3:output:hello",
          "4:output:hi"
        ])
      })))

    it.effect("an empty replay after a recorded conversation opens a new epoch (agentapi never forgets)", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(task.taskId, [agent(0, "hello")], { _tag: "replay" }, at)
        assert.strictEqual(yield* repo.record(task.taskId, [], { _tag: "replay" }, at), 2)
        // A recorder still following the old process writes nothing.
        assert.strictEqual(yield* repo.record(task.taskId, [agent(1, "late")], { _tag: "live", epoch: 1 }, at), 2)
        yield* repo.record(task.taskId, [agent(0, "new")], { _tag: "live", epoch: 2 }, at)
        assert.deepStrictEqual(yield* history(task.taskId), ["1:output:hello", "2:output:new"])
      })))

    it.effect("a snapshot fills in what the recorder missed, in place, without duplicates", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(task.taskId, [agent(0, "hello"), user(1, "go"), agent(2, "wor")], { _tag: "replay" }, at)
        yield* repo.recordAgentStatus(task.taskId, "running")
        // taskd was down; the agent went on; its shutdown uploaded its last messages (ids 2..5, 4 missing here
        // on purpose: a gap keeps its place).
        yield* storeSnapshot(task.taskId, [agent(2, "worked"), user(3, "more"), agent(5, "done")])
        assert.deepStrictEqual(yield* history(task.taskId), [
          "1:output:hello",
          "2:input:go",
          "3:output:worked",
          "4:input:more",
          "6:output:done"
        ])
        // The same snapshot again changes nothing; a later replay brings the missing one into its place.
        const before = yield* repo.head(task.taskId)
        yield* storeSnapshot(task.taskId, [agent(2, "worked"), user(3, "more"), agent(5, "done")])
        assert.strictEqual((yield* repo.head(task.taskId))!.seq, before!.seq)
        yield* repo.record(
          task.taskId,
          [agent(0, "hello"), user(1, "go"), agent(2, "worked"), user(3, "more"), agent(4, "four"), agent(5, "done")],
          { _tag: "replay" },
          at
        )
        assert.deepStrictEqual((yield* history(task.taskId)).map((line) => line.split(":")[0]), [
          "1",
          "2",
          "3",
          "4",
          "5",
          "6"
        ])
      })))

    it.effect("a snapshot of a process the recorder never saw becomes a new epoch", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(task.taskId, [agent(0, "hello"), user(1, "one")], { _tag: "replay" }, at)
        yield* repo.recordAgentStatus(task.taskId, "stable")
        yield* storeSnapshot(task.taskId, [agent(0, "other"), user(1, "two")])
        assert.deepStrictEqual(yield* history(task.taskId), [
          "1:output:hello",
          "2:input:one",
          "3:output:other",
          "4:input:two"
        ])
      })))

    it.effect("changes are numbered per task: messages, the agent status and the task's own state", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        const start = yield* repo.head(task.taskId)
        assert.isDefined(start)
        assert.strictEqual(start!.status, "active")
        yield* repo.record(task.taskId, [agent(0, "a")], { _tag: "replay" }, at)
        assert.isTrue(yield* repo.recordAgentStatus(task.taskId, "running"))
        assert.isFalse(yield* repo.recordAgentStatus(task.taskId, "running"))
        yield* repo.record(task.taskId, [agent(0, "ab")], { _tag: "live", epoch: 1 }, at)
        const changes = yield* repo.changesSince(task.taskId, start!.seq)
        assert.deepStrictEqual(changes.map((c) => c._tag), ["agent", "message"])
        assert.deepStrictEqual(changes.map((c) => c.seq), [start!.seq + 2, start!.seq + 3])
        const all = yield* repo.changesSince(task.taskId, 0)
        assert.strictEqual(all[0]!._tag, "task")
        // Pausing (a stop build) announces the task's own state.
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE workspace_agents SET lifecycle_state = 'off' WHERE id = ${task.agentId}`
        const after = yield* repo.head(task.taskId)
        assert.strictEqual(after!.taskSeq, start!.seq + 4)
        assert.notStrictEqual(after!.status, "active")
        const changed = yield* repo.taskStateChangedSince(start!.taskChangeId)
        assert.include(changed.map((h) => h.taskId), task.taskId)
      })))

    it.effect("pages: after_id and limit, next page while more follow", () =>
      withRepo(Effect.gen(function*() {
        const repo = yield* ConversationRepo
        const task = yield* newTask
        yield* repo.record(
          task.taskId,
          Array.from({ length: 5 }, (_, i) => agent(i, `m${i}`)),
          { _tag: "replay" },
          at
        )
        const first = yield* repo.page(task.taskId, 0, 2)
        assert.deepStrictEqual(first.messages.map((m) => m.id), [1, 2])
        assert.isTrue(first.more)
        const last = yield* repo.page(task.taskId, 4, 2)
        assert.deepStrictEqual(last.messages.map((m) => m.id), [5])
        assert.isFalse(last.more)
      })))
  })
}

layer(TestServer.layer(Backends.pglite))("capMessage", (it) => {
  it.effect("a message over 1 MiB is cut at a character boundary and marked", () =>
    Effect.sync(() => {
      const small = "x".repeat(1000)
      assert.strictEqual(capMessage(small), small)
      const big = "é".repeat(maxMessageBytes) // 2 bytes each
      const capped = capMessage(big)
      assert.isTrue(capped.startsWith("é".repeat(maxMessageBytes / 2)))
      assert.include(capped, "[taskd: message truncated")
      assert.isAtMost(new TextEncoder().encode(capped.split("\n[taskd")[0]!).length, maxMessageBytes)
    }))
})
