/**
 * `GET /api/v2/tasks/{user}/{task}/messages` through HTTP: the recorded history, paged, whatever the task's
 * status; the same access rules and 404s as `GET` of the task; Coder's validation body for a bad query.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { type AgentMessage, ConversationRepo } from "../src/Conversations/ConversationRepo.ts"
import * as Backends from "./support/Backends.ts"
import { addBuild, createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import { request } from "./support/Http.ts"
import { noJobWorkers, standard404 } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const at = new Date("2026-12-02T10:00:00Z")
const message = (id: number): AgentMessage => ({
  id,
  role: id % 2 === 0 ? "agent" : "user",
  content: `message ${id}`,
  time: "2026-12-02T10:00:00Z"
})

for (const backend of Backends.all) {
  layer(TestServer.layer(backend).pipe(Layer.provide(noJobWorkers)), { timeout: 120_000 })(
    `messages [${backend.name}]`,
    (it) => {
      const taskWithHistory = (count: number) =>
        Effect.gen(function*() {
          const owner = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTaskWorkspace(owner, template)
          const repo = yield* ConversationRepo
          yield* repo.record(task.taskId, Array.from({ length: count }, (_, i) => message(i)), { _tag: "replay" }, at)
          return { owner, task, path: `/api/v2/tasks/${owner.username}/${task.name}/messages` }
        }).pipe(Effect.provide(ConversationRepo.layer))

      it.effect("the history oldest first, ids from 1, types as in Coder's logs; next_after_id while more follow", () =>
        Effect.gen(function*() {
          const { owner, path } = yield* taskWithHistory(5)
          const first = yield* request("GET", `${path}?limit=2`, { token: owner.token })
          assert.strictEqual(first.status, 200)
          assert.deepStrictEqual(first.json, {
            messages: [
              { id: 1, type: "output", content: "message 0", time: "2026-12-02T10:00:00Z" },
              { id: 2, type: "input", content: "message 1", time: "2026-12-02T10:00:00Z" }
            ],
            next_after_id: 2
          })
          const rest = yield* request("GET", `${path}?after_id=2&limit=3`, { token: owner.token })
          assert.deepStrictEqual((rest.json as { messages: Array<{ id: number }> }).messages.map((m) => m.id), [
            3,
            4,
            5
          ])
          assert.notProperty(rest.json, "next_after_id")
          const all = yield* request("GET", path, { token: owner.token })
          assert.lengthOf((all.json as { messages: Array<unknown> }).messages, 5)
        }))

      it.effect("through the typed client, by task id", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* taskWithHistory(3)
          const client = yield* TestServer.clientFor(owner.token)
          const page = yield* client.conversations.messages({
            params: { user: "me", task: task.taskId },
            query: { after_id: "1" }
          })
          assert.deepStrictEqual(page.messages.map((m) => m.id), [2, 3])
        }))

      it.effect("kept whatever the task's status: paused, and after its workspace is gone", () =>
        Effect.gen(function*() {
          const { owner, path, task } = yield* taskWithHistory(2)
          yield* addBuild(owner, task, { transition: "stop", jobStatus: "succeeded" })
          const paused = yield* request("GET", path, { token: owner.token })
          assert.strictEqual(paused.status, 200)
          assert.lengthOf((paused.json as { messages: Array<unknown> }).messages, 2)
          const sql = yield* SqlClient.SqlClient
          yield* sql`UPDATE workspaces SET deleted = true WHERE id = ${task.workspaceId}`.pipe(Effect.orDie)
          const gone = yield* request("GET", path, { token: owner.token })
          assert.lengthOf((gone.json as { messages: Array<unknown> }).messages, 2)
        }))

      it.effect("bad after_id or limit: 400 with Coder's validations, every problem listed", () =>
        Effect.gen(function*() {
          const { owner, path } = yield* taskWithHistory(1)
          const bad = yield* request("GET", `${path}?after_id=x&limit=0&page=2`, { token: owner.token })
          assert.strictEqual(bad.status, 400)
          assert.deepStrictEqual(bad.json, {
            message: "Invalid query parameters.",
            validations: [
              {
                field: "after_id",
                detail: `Query param "after_id" must be a valid integer: strconv.ParseInt: parsing "x": invalid syntax`
              },
              { field: "limit", detail: `Query param "limit" must be between 1 and 1000, got 0` },
              { field: "page", detail: `"page" is not a valid query param` }
            ]
          })
          const negative = yield* request("GET", `${path}?after_id=-1&limit=1001`, { token: owner.token })
          assert.strictEqual(negative.status, 400)
          assert.lengthOf((negative.json as { validations: Array<unknown> }).validations, 2)
        }))

      it.effect("another member's task is the standard 404; an owner may read it", () =>
        Effect.gen(function*() {
          const { path } = yield* taskWithHistory(1)
          const stranger = yield* createUser()
          const denied = yield* request("GET", path, { token: stranger.token })
          assert.strictEqual(denied.status, 404)
          assert.deepStrictEqual(denied.json, standard404)
          const admin = yield* createUser("owner")
          const allowed = yield* request("GET", path, { token: admin.token })
          assert.strictEqual(allowed.status, 200)
          const anonymous = yield* request("GET", path)
          assert.strictEqual(anonymous.status, 401)
        }))
    }
  )
}
