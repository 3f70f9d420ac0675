/**
 * Queued input (issue 15) through HTTP, with the agentapi double as the task's agent: messages queued while
 * the agent works arrive in order, one per "stable", exactly once; cancelling; 409 once sent; the numbered
 * queue changes the task's event stream reads.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ConversationRepo } from "../src/Conversations/ConversationRepo.ts"
import { QueueRepo } from "../src/Webhooks/QueueRepo.ts"
import * as AgentApiDouble from "./support/AgentApiDouble.ts"
import * as Backends from "./support/Backends.ts"
import { createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import { request } from "./support/Http.ts"
import { pollUntil, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const env = withEnv({ TASKD_JOB_WORKERS: "0", TASKD_QUEUE_POLL: "50 millis" })

/** The agent's status in the double and in taskd's record of it (as the recorder keeps it). */
const setStatus = (agent: AgentApiDouble.AgentApiDouble, taskId: string, status: "running" | "stable") =>
  Effect.gen(function*() {
    yield* agent.setStatus(status)
    const repo = yield* ConversationRepo
    yield* repo.recordAgentStatus(taskId, status)
  }).pipe(Effect.provide(ConversationRepo.layer))

/** The task's numbered queue changes, as the task's event stream reads them. */
const queueChanges = (taskId: string) =>
  Effect.gen(function*() {
    const repo = yield* QueueRepo
    return yield* repo.changesSince(taskId, 0)
  }).pipe(Effect.provide(QueueRepo.layer))

const posted = (agent: AgentApiDouble.AgentApiDouble) =>
  agent.requests
    .filter((r) => r.method === "POST" && r.path === "/message")
    .map((r) => (JSON.parse(r.body) as { content: string }).content)

const userMessages = (agent: AgentApiDouble.AgentApiDouble) =>
  agent.messages.filter((m) => m.role === "user").map((m) => m.content)

for (const backend of Backends.all) {
  layer(TestServer.layer(backend).pipe(Layer.provide(env)), { timeout: 120_000 })(
    `queued input [${backend.name}]`,
    (it) => {
      it.effect("three messages queued while the agent works arrive in order, once each; cancel; 409 once sent", () =>
        Effect.gen(function*() {
          const agent = yield* AgentApiDouble.make({ status: "running" })
          const owner = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTaskWorkspace(owner, template, { appUrl: agent.url })
          yield* setStatus(agent, task.taskId, "running")
          const path = `/api/v2/tasks/${owner.username}/${task.taskId}/queue`
          const ids: Array<string> = []
          for (const input of ["first", "  second\n", "third", "never"]) {
            const queued = yield* request("POST", path, { token: owner.token, body: JSON.stringify({ input }) })
            assert.strictEqual(queued.status, 202, queued.text)
            assert.strictEqual(queued.json.input, input.trim())
            ids.push(queued.json.id)
          }
          const before = yield* queueChanges(task.taskId)
          assert.deepStrictEqual(before.map((c) => [c.event.id, c.event.state]), ids.map((id) => [id, "queued"]))
          const empty = yield* request("POST", path, { token: owner.token, body: JSON.stringify({ input: "  " }) })
          assert.strictEqual(empty.status, 400)
          const cancelled = yield* request("DELETE", `${path}/${ids[3]}`, { token: owner.token })
          assert.strictEqual(cancelled.status, 204)
          const listed = yield* request("GET", path, { token: owner.token })
          assert.deepStrictEqual(listed.json.queued.map((q: { input: string }) => q.input), [
            "first",
            "second",
            "third"
          ])
          assert.deepStrictEqual(posted(agent), [])

          // Each "stable" lets the next message go; the agent works on each one in between.
          for (const [index, input] of ["first", "second", "third"].entries()) {
            yield* setStatus(agent, task.taskId, "stable")
            yield* pollUntil(
              Effect.sync(() => userMessages(agent)),
              (messages) => messages.length === index + 1,
              (last) => `the agent never got ${input}; it has ${JSON.stringify(last)}`
            )
            yield* setStatus(agent, task.taskId, "running")
          }
          yield* setStatus(agent, task.taskId, "stable")
          const done = yield* pollUntil(
            request("GET", path, { token: owner.token }),
            (response) => response.json.queued.length === 0,
            (last) => `the queue never emptied: ${last?.text}`
          )
          assert.deepStrictEqual(done.json, { queued: [] })
          assert.deepStrictEqual(userMessages(agent), ["first", "second", "third"])
          // Exactly once: nothing was posted twice (a refusal while running would be a second POST).
          assert.deepStrictEqual(posted(agent), ["first", "second", "third"])
          const late = yield* request("DELETE", `${path}/${ids[0]}`, { token: owner.token })
          assert.strictEqual(late.status, 409)

          // What the task's event stream reads: each message at its latest announced state, in the order of
          // the task's changes.
          const changes = yield* queueChanges(task.taskId)
          assert.deepStrictEqual(
            changes.map((c) => `${c.event.id === ids[3] ? "never" : ids.indexOf(c.event.id)}:${c.event.state}`),
            [
              "never:cancelled",
              "0:sent",
              "1:sent",
              "2:sent"
            ]
          )
          const seqs = changes.map((c) => c.seq)
          assert.deepStrictEqual(seqs, [...seqs].sort((a, b) => a - b))
        }))

      it.effect("deleting the task drops its queue; another user's task is a 404", () =>
        Effect.gen(function*() {
          const agent = yield* AgentApiDouble.make({ status: "running" })
          const owner = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTaskWorkspace(owner, template, { appUrl: agent.url })
          const path = `/api/v2/tasks/${owner.username}/${task.taskId}/queue`
          const queued = yield* request("POST", path, { token: owner.token, body: JSON.stringify({ input: "hello" }) })
          assert.strictEqual(queued.status, 202)
          const other = yield* createUser()
          const hidden = yield* request("GET", path, { token: other.token })
          assert.strictEqual(hidden.status, 404)
          const removed = yield* request("DELETE", `/api/v2/tasks/${owner.username}/${task.taskId}`, {
            token: owner.token
          })
          assert.strictEqual(removed.status, 202, removed.text)
          const changes = yield* pollUntil(
            queueChanges(task.taskId),
            (cs) => cs.some((c) => c.event.state === "cancelled"),
            (last) => `never cancelled: ${JSON.stringify(last)}`
          )
          assert.deepStrictEqual(changes.map((c) => c.event.state), ["cancelled"])
        }))
    }
  )
}
