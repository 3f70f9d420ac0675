/**
 * Recording a task's conversation (issue 12 §1): the recorder follows the agentapi double's `/events` as
 * the task's app, through the job runner's real builds (the test acts as the workspace agent), and the
 * history is read back with the typed client (`GET .../messages`). Pause and resume, agent restarts,
 * dropped streams, bad events, huge messages, floods and snapshot uploads. Live clock.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { encodePayload, trimForSnapshot } from "../src/AgentApi/Trim.ts"
import { ConversationRepo } from "../src/Conversations/ConversationRepo.ts"
import { maxMessageBytes, truncatedMarker } from "../src/Domain/Conversation.ts"
import * as AgentApiDouble from "./support/AgentApiDouble.ts"
import * as Backends from "./support/Backends.ts"
import { createTemplate, createUser, type TestUser } from "./support/Fixtures.ts"
import { messagesBody, upload } from "./support/Http.ts"
import {
  actAsAgent,
  agentToken,
  createActiveTask,
  pauseTask,
  pollUntil,
  waitForStatus,
  withEnv
} from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

type Seed = ReadonlyArray<AgentApiDouble.SeedMessage>
const agentSays = (content: string): AgentApiDouble.SeedMessage => ({ role: "agent", content })
const userSays = (content: string): AgentApiDouble.SeedMessage => ({ role: "user", content })

/** A history as `position:type:content`, for comparisons that print well. */
const line = (message: { readonly id: number; readonly type: string; readonly content: string }) =>
  `${message.id}:${message.type}:${message.content}`

const historyOf = (user: TestUser, taskId: string) =>
  Effect.gen(function*() {
    const client = yield* TestServer.clientFor(user.token)
    const page = yield* client.conversations.messages({
      params: { user: "me", task: taskId },
      query: { limit: "1000" }
    })
    return page.messages.map(line)
  }).pipe(Effect.orDie)

/** Polls the history until it is exactly `expected`. */
const waitForHistory = (user: TestUser, taskId: string, expected: ReadonlyArray<string>) =>
  pollUntil(
    historyOf(user, taskId),
    (history) => JSON.stringify(history) === JSON.stringify(expected),
    (last) => `history ${JSON.stringify(last)}, expected ${JSON.stringify(expected)}`
  )

const waitForConnections = (agent: AgentApiDouble.AgentApiDouble, count: number) =>
  pollUntil(
    Effect.sync(() => agent.eventConnections),
    (open) => open === count,
    (last) => `${last} event connections open, expected ${count}`
  )

const headSeq = (taskId: string) =>
  Effect.gen(function*() {
    const repo = yield* ConversationRepo
    return (yield* repo.head(taskId))?.seq ?? 0
  }).pipe(Effect.provide(ConversationRepo.layer))

for (const backend of Backends.all) {
  const { layer: provisioner, record } = Workspaces.recording()
  const server = TestServer.layer(backend, { provisioner }).pipe(
    Layer.provide(withEnv({ TASKD_RECORDER_POLL: "250 millis" }))
  )
  layer(server, { timeout: 120_000, excludeTestServices: true })(`recorder [${backend.name}]`, (it) => {
    /** An agent (the double, seeded with `messages`) as the app of a task made active through real builds. */
    const activeTask = (messages: Seed = [], options: AgentApiDouble.Options = {}) =>
      Effect.gen(function*() {
        const agent = yield* AgentApiDouble.make({ messages, ...options })
        const user = yield* createUser()
        const template = yield* createTemplate({ app_url: agent.url })
        const { agentToken: token, task } = yield* createActiveTask(user, template.versionId, record)
        return { agent, user, taskId: task.id, token }
      })

    /** Resumes a paused task and plays its new agent until the task is active. */
    const resume = (user: TestUser, taskId: string) =>
      Effect.gen(function*() {
        const starts = record.starts.filter((spec) => spec.taskId === taskId).length
        const client = yield* TestServer.clientFor(user.token)
        yield* client.tasks.resume({ params: { user: "me", task: taskId } }).pipe(Effect.orDie)
        const token = yield* agentToken(record, taskId, starts)
        yield* actAsAgent(token, { lifecycle: "ready", health: "healthy" })
        yield* waitForStatus(user.token, taskId, "active")
        return token
      })

    it.effect("the whole history in order; updates of the last message keep its id; the status is kept", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("Hello!"), userSays("Fix the bug")])
        yield* waitForHistory(user, taskId, ["1:output:Hello!", "2:input:Fix the bug"])
        yield* agent.setStatus("running")
        yield* agent.addMessage("agent", "Look")
        yield* agent.updateLastMessage("Looking at")
        yield* agent.updateLastMessage("Looking at the bug")
        yield* agent.setStatus("stable")
        yield* agent.addMessage("user", "Thanks")
        yield* waitForHistory(user, taskId, [
          "1:output:Hello!",
          "2:input:Fix the bug",
          "3:output:Looking at the bug",
          "4:input:Thanks"
        ])
        const head = yield* Effect.provide(
          Effect.flatMap(ConversationRepo, (repo) => repo.head(taskId)),
          ConversationRepo.layer
        )
        assert.strictEqual(head?.agentStatus, "stable")
      }))

    it.effect("pause, then resume with the conversation restored: same ids and texts, no duplicates", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("Hello!"), userSays("Do it")])
        yield* agent.addMessage("agent", "Done.")
        const before = ["1:output:Hello!", "2:input:Do it", "3:output:Done."]
        yield* waitForHistory(user, taskId, before)
        yield* pauseTask(user.token, taskId)
        // The workspace stopped: its recorder stops too.
        yield* waitForConnections(agent, 0)
        yield* agent.restart({ restore: true })
        yield* resume(user, taskId)
        yield* agent.awaitEventConnections(1)
        yield* agent.addMessage("user", "And now?")
        yield* waitForHistory(user, taskId, [...before, "4:input:And now?"])
      }))

    it.effect("pause, then resume with a fresh conversation: its messages come after, nothing overwritten", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("Hello!"), userSays("Do it")])
        const before = ["1:output:Hello!", "2:input:Do it"]
        yield* waitForHistory(user, taskId, before)
        yield* pauseTask(user.token, taskId)
        yield* waitForConnections(agent, 0)
        // The new process numbers from 0 again, with other texts.
        yield* agent.restart({ restore: false, messages: [agentSays("Hello again!")] })
        yield* resume(user, taskId)
        yield* agent.awaitEventConnections(1)
        yield* agent.addMessage("user", "Continue")
        yield* waitForHistory(user, taskId, [...before, "3:output:Hello again!", "4:input:Continue"])
      }))

    it.effect("the agent restarting mid-task: a fresh process is appended, a restored one continues", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("one"), userSays("two")])
        yield* waitForHistory(user, taskId, ["1:output:one", "2:input:two"])
        yield* agent.restart({ restore: false, messages: [agentSays("three")] })
        yield* agent.awaitEventConnections(1)
        yield* agent.addMessage("user", "four")
        const fresh = ["1:output:one", "2:input:two", "3:output:three", "4:input:four"]
        yield* waitForHistory(user, taskId, fresh)
        yield* agent.restart({ restore: true })
        yield* agent.awaitEventConnections(1)
        yield* agent.addMessage("agent", "five")
        yield* waitForHistory(user, taskId, [...fresh, "5:output:five"])
      }))

    it.effect("a dropped stream is reconnected, what happened meanwhile recorded once", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("a")])
        yield* waitForHistory(user, taskId, ["1:output:a"])
        yield* agent.dropEventConnections()
        yield* agent.addMessage("user", "b")
        yield* agent.awaitEventConnections(1)
        yield* agent.dropEventConnections({ abort: true })
        yield* agent.addMessage("agent", "c")
        yield* agent.updateLastMessage("c, grown")
        yield* agent.awaitEventConnections(1)
        yield* agent.addMessage("user", "d")
        // The agent is down for a while: the recorder keeps trying, then comes back.
        yield* agent.stop
        yield* agent.addMessage("agent", "e")
        yield* agent.start
        yield* agent.awaitEventConnections(1)
        yield* waitForHistory(user, taskId, ["1:output:a", "2:input:b", "3:output:c, grown", "4:input:d", "5:output:e"])
      }))

    it.effect("malformed events, unknown roles and impossible ids are skipped; errors are only logged", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("ok")])
        yield* waitForHistory(user, taskId, ["1:output:ok"])
        const time = "2026-01-01T00:00:00Z"
        yield* agent.sendRaw("event: message_update\ndata: {not json\n\n")
        yield* agent.sendRaw("event: status_change\ndata: {\"status\":\"exploded\"}\n\n")
        yield* agent.sendRaw("event: surprise\ndata: {}\n\n")
        yield* agent.sendRaw(AgentApiDouble.sseEvent("message_update", { id: 7, role: "system", message: "x", time }))
        yield* agent.sendRaw(AgentApiDouble.sseEvent("message_update", { id: -1, role: "agent", message: "x", time }))
        yield* agent.sendRaw(
          AgentApiDouble.sseEvent("message_update", { id: 2 ** 31, role: "agent", message: "x", time })
        )
        yield* agent.sendRaw(
          `event: message_update\ndata: {"id":9223372036854775807,"role":"agent","message":"x","time":"${time}"}\n\n`
        )
        yield* agent.sendRaw(
          AgentApiDouble.sseEvent("message_update", { id: 1, role: "agent", message: "x", time: "noon" })
        )
        yield* agent.addError("the model is overloaded")
        // A NUL cannot be stored by Postgres: it is replaced, not a reason to fail.
        yield* agent.addMessage("user", "nul\u0000here")
        yield* agent.addMessage("agent", "still fine")
        yield* waitForHistory(user, taskId, ["1:output:ok", "2:input:nul\uFFFDhere", "3:output:still fine"])
      }))

    it.effect("a message over 1 MiB is stored cut, with the marker", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([userSays("write a lot")])
        const huge = "é".repeat(600_000) // 1,200,000 bytes
        yield* agent.addMessage("agent", huge)
        yield* agent.addMessage("user", "thanks")
        const history = yield* pollUntil(
          Effect.provide(
            Effect.flatMap(ConversationRepo, (repo) => repo.page(taskId, 0, 10)),
            ConversationRepo.layer
          ),
          (page) => page.messages.length === 3,
          (last) => `${last?.messages.length} messages`
        )
        const stored = history.messages[1]!
        assert.strictEqual(stored.id, 2)
        assert.isTrue(stored.content.endsWith(truncatedMarker(1_200_000)))
        const kept = stored.content.slice(0, -truncatedMarker(1_200_000).length)
        assert.strictEqual(kept, "é".repeat(maxMessageBytes / 2))
        assert.strictEqual(history.messages[2]!.content, "thanks")
        yield* waitForHistory(user, taskId, ["1:input:write a lot", `2:output:${stored.content}`, "3:input:thanks"])
      }))

    it.effect("a flood of updates is coalesced: the last text wins, in far fewer writes", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([userSays("go")])
        yield* waitForHistory(user, taskId, ["1:input:go"])
        const before = yield* headSeq(taskId)
        yield* agent.setStatus("running")
        yield* agent.addMessage("agent", "0")
        const updates = 3000
        for (let i = 1; i <= updates; i++) yield* agent.updateLastMessage(`${i} ${"token ".repeat(i % 50)}`)
        yield* agent.setStatus("stable")
        const last = `${updates} ${"token ".repeat(updates % 50)}`
        yield* waitForHistory(user, taskId, ["1:input:go", `2:output:${last}`])
        const writes = (yield* headSeq(taskId)) - before
        // Each write is at least one change; one write per update would be over 3,000.
        assert.isBelow(writes, updates / 2)
        // And the agent is still followed.
        yield* agent.addMessage("user", "next")
        yield* waitForHistory(user, taskId, ["1:input:go", `2:output:${last}`, "3:input:next"])
      }))

    it.effect("a snapshot upload fills in what the recorder missed, and a later replay duplicates nothing", () =>
      Effect.gen(function*() {
        const { agent, taskId, token, user } = yield* activeTask([agentSays("Hello!")])
        yield* waitForHistory(user, taskId, ["1:output:Hello!"])
        // taskd cannot reach the agent while it goes on.
        yield* agent.stop
        yield* agent.addMessage("user", "missed 1")
        yield* agent.addMessage("agent", "missed 2")
        const uploaded = yield* upload(token, taskId, messagesBody(agent.messages))
        assert.isBelow(uploaded.status, 300)
        const filled = ["1:output:Hello!", "2:input:missed 1", "3:output:missed 2"]
        yield* waitForHistory(user, taskId, filled)
        yield* agent.start
        yield* agent.awaitEventConnections(1)
        yield* agent.addMessage("user", "after")
        yield* waitForHistory(user, taskId, [...filled, "4:input:after"])
      }))

    it.effect("a snapshot's cut copy of a long message neither duplicates it nor replaces its whole text", () =>
      Effect.gen(function*() {
        const { agent, taskId, token, user } = yield* activeTask([userSays("write a lot")])
        const long = (tag: string) => Array.from({ length: 12_000 }, (_, i) => `${tag} line ${i}`).join("\n")
        yield* agent.addMessage("agent", long("first"))
        const recorded = ["1:input:write a lot", `2:output:${long("first")}`]
        yield* waitForHistory(user, taskId, recorded)
        // What the agent's shutdown script uploads: the one message that fits, cut to its end.
        const snapshot = () => encodePayload(trimForSnapshot({ messages: agent.messages })!)
        assert.include(snapshot(), "[...content truncated, showing last 56KB...]")
        assert.isBelow((yield* upload(token, taskId, snapshot())).status, 300)
        assert.deepStrictEqual(yield* historyOf(user, taskId), recorded)
        // Missed while taskd could not reach the agent: the snapshot brings a cut copy, the next replay the
        // whole text, in place, and what the snapshot did not have.
        yield* agent.stop
        yield* agent.addMessage("user", "more")
        yield* agent.addMessage("agent", long("second"))
        assert.isBelow((yield* upload(token, taskId, snapshot())).status, 300)
        const cut = (yield* historyOf(user, taskId)).at(-1)!
        assert.isTrue(cut.startsWith("4:output:[...content truncated"))
        yield* agent.start
        yield* waitForHistory(user, taskId, [...recorded, "3:input:more", `4:output:${long("second")}`])
      }))

    it.effect("one recorder per task: its claim is this instance's, and released once the task is paused", () =>
      Effect.gen(function*() {
        const { agent, taskId, user } = yield* activeTask([agentSays("hi")])
        yield* waitForHistory(user, taskId, ["1:output:hi"])
        const sql = yield* SqlClient.SqlClient
        const claim = sql<{ recorder_instance: string | null }>`
          SELECT recorder_instance FROM task_streams WHERE task_id = ${taskId}`.pipe(
          Effect.map((rows) => rows[0]?.recorder_instance ?? null),
          Effect.orDie
        )
        const instance = yield* claim
        assert.isNotNull(instance)
        const [alive] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM taskd_instances WHERE id = ${instance} AND stopped_at IS NULL`.pipe(
          Effect.orDie
        )
        assert.strictEqual(alive?.n, 1)
        assert.strictEqual(agent.eventConnections, 1)
        yield* pauseTask(user.token, taskId)
        yield* waitForConnections(agent, 0)
        yield* pollUntil(claim, (holder) => holder === null, (last) => `still claimed by ${last}`)
      }))
  })
}
