/**
 * `POST /api/v2/workspaceagents/me/tasks/{task}/log-snapshot` against spec §7.3, row by row.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { makeClient } from "../src/Client.ts"
import * as Backends from "./support/Backends.ts"
import {
  addBuild,
  createTaskWorkspace,
  createTemplate,
  createUser,
  setLatestJobStatus,
  storedSnapshot
} from "./support/Fixtures.ts"
import { request, snapshotBody, snapshotPath, streamBody, upload } from "./support/Http.ts"
import * as ManualClock from "./support/ManualClock.ts"
import { standard404 } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

/** One agent message: `{"messages":[{"id":0,"content":"test","role":"agent","time":"2025-09-25T10:42:48Z"}]}`. */
const oneMessage = snapshotBody("test")

const setup = Effect.gen(function*() {
  const owner = yield* createUser()
  const template = yield* createTemplate()
  const task = yield* createTaskWorkspace(owner, template)
  return { owner, template, task }
})

for (const backend of Backends.all) {
  describe(`snapshot upload [${backend.name}]`, () => {
    // taskd and the fixtures read the time the tests set (a TestClock would run the job runner's poll loop
    // for every second it is moved by).
    const time = ManualClock.make()
    layer(Layer.merge(TestServer.layer(backend, { clock: time.clock }), time.layer), {
      timeout: 120_000,
      excludeTestServices: true
    })((it) => {
      it.effect("Success: 204 with no body, and the agentapi envelope is stored", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const response = yield* upload(task.agentToken, task.taskId, oneMessage)
          assert.strictEqual(response.status, 204)
          assert.strictEqual(response.text, "")
          assert.isUndefined(response.headers["content-type"])
          const stored = yield* storedSnapshot(task.taskId)
          assert.deepStrictEqual(stored?.log_snapshot, {
            format: "agentapi",
            data: { messages: [{ id: 0, content: "test", role: "agent", time: "2025-09-25T10:42:48Z" }] }
          })
        }))

      it.effect("Overwrite: a later upload replaces the content and the timestamp comes from the clock", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          yield* time.setTime(Date.parse("2025-01-01T10:05:00Z"))
          assert.strictEqual(
            (yield* upload(task.agentToken, task.taskId, oneMessage)).status,
            204
          )
          const first = yield* storedSnapshot(task.taskId)
          assert.strictEqual(first?.log_snapshot_created_at.toISOString(), "2025-01-01T10:05:00.000Z")

          yield* time.adjust("90 seconds")
          const second = JSON.stringify({
            messages: [{ id: 7, content: "replaced", role: "user", time: "2025-01-01T10:06:00Z" }]
          })
          assert.strictEqual(
            (yield* upload(task.agentToken, task.taskId, second)).status,
            204
          )
          const stored = yield* storedSnapshot(task.taskId)
          assert.strictEqual(stored?.log_snapshot_created_at.toISOString(), "2025-01-01T10:06:30.000Z")
          assert.deepStrictEqual((stored?.log_snapshot as any).data.messages, [
            { id: 7, content: "replaced", role: "user", time: "2025-01-01T10:06:00Z" }
          ])
        }))

      it.effect("re-encodes the payload as Go does: unknown keys dropped, $schema kept, zero values filled", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const body = JSON.stringify({
            $schema: "https://example.com/schemas/MessagesResponseBody.json",
            truncated: false,
            total_count: 2,
            messages: [
              { id: 1, role: "agent", time: "2025-09-25T10:42:48.120000000+00:00", extra: { nested: true } },
              { id: 2, content: "hi", role: "user", time: "2025-09-25T12:42:48.5+02:00" },
              { content: "no id, no time", role: "agent" }
            ]
          }) + "\n trailing bytes are ignored"
          assert.strictEqual((yield* upload(task.agentToken, task.taskId, body)).status, 204)
          const stored = yield* storedSnapshot(task.taskId)
          assert.deepStrictEqual(stored?.log_snapshot, {
            format: "agentapi",
            data: {
              $schema: "https://example.com/schemas/MessagesResponseBody.json",
              messages: [
                { id: 1, content: "", role: "agent", time: "2025-09-25T10:42:48.12Z" },
                { id: 2, content: "hi", role: "user", time: "2025-09-25T12:42:48.5+02:00" },
                { id: 0, content: "no id, no time", role: "agent", time: "0001-01-01T00:00:00Z" }
              ]
            }
          })
        }))

      it.effect("keys match Go's way: case-insensitively, the later of two that match wins; null is the zero value", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const body = `{"Messages":[{"ID":3,"Content":"x","content":"exact","ROLE":"agent","time":null}]}`
          assert.strictEqual((yield* upload(task.agentToken, task.taskId, body)).status, 204)
          const stored = yield* storedSnapshot(task.taskId)
          assert.deepStrictEqual((stored?.log_snapshot as any).data.messages, [
            { id: 3, content: "exact", role: "agent", time: "0001-01-01T00:00:00Z" }
          ])
        }))

      it.effect("message ids are int64: every digit is stored and read back by /logs; outside int64 is a 400", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* setup
          const refused = [
            [
              "9223372036854775808",
              "Expected an int64, between -9223372036854775808 and 9223372036854775807, " +
              "actual 9223372036854775808"
            ],
            [
              "-9223372036854775809",
              "Expected an int64, between -9223372036854775808 and 9223372036854775807, " +
              "actual -9223372036854775809"
            ],
            ["1.5", "Expected an integer, actual 1.5"],
            ["1e400", "Expected an integer, actual Infinity"],
            [
              "1e18",
              "Expected an exact integer (beyond 2^53, written in digits, or a bigint), actual 1000000000000000000"
            ]
          ] as const
          for (const [id, detail] of refused) {
            const response = yield* upload(task.agentToken, task.taskId, `{"messages":[{"id":${id},"role":"agent"}]}`)
            assert.strictEqual(response.status, 400, id)
            assert.deepStrictEqual(response.json, {
              message: "Failed to decode request payload.",
              detail: `messages.0.id: ${detail}`
            })
          }
          assert.isUndefined(yield* storedSnapshot(task.taskId))

          const ids = ["9007199254740993", "-9223372036854775808", "9223372036854775807", "-9007199254740993", "0"]
          const body = `{"Messages":[${
            ids.map((id, i) =>
              `{"id":${id},"content":"m${i}","role":"${i % 2 ? "user" : "agent"}","time":"2025-09-25T10:42:48Z"}`
            )
              .join(",")
          }]}`
          assert.strictEqual((yield* upload(task.agentToken, task.taskId, body)).status, 204)
          const idsIn = (text: string) => Array.from(text.matchAll(/"id": ?(-?\d+)/g), (match) => match[1])
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ text: string }>`
            SELECT log_snapshot::text AS text FROM task_snapshots WHERE task_id = ${task.taskId}`
          assert.deepStrictEqual(idsIn(rows[0]!.text), ids)

          // Paused: the logs are the snapshot's, every id a JSON number with all its digits.
          yield* addBuild(owner, task, { transition: "stop", jobStatus: "succeeded" })
          const logs = yield* request("GET", `/api/v2/tasks/${owner.username}/${task.taskId}/logs`, {
            token: owner.token
          })
          assert.strictEqual(logs.status, 200)
          assert.strictEqual(logs.json.snapshot, true)
          assert.deepStrictEqual(idsIn(logs.text), ids)
          assert.include(
            logs.text,
            `{"id":9007199254740993,"content":"m0","type":"output","time":"2025-09-25T10:42:48Z"}`
          )
          assert.include(logs.text, `{"id":-9223372036854775808,"content":"m1","type":"input",`)
          // The typed client reads them with every digit too (bigints beyond 2^53).
          const client = yield* makeClient({ baseUrl: "", token: owner.token })
          const typed = yield* client.tasks.logs({ params: { user: owner.username, task: task.taskId } })
          assert.deepStrictEqual(typed.logs.map((entry) => entry.id), [
            9007199254740993n,
            -(2n ** 63n),
            2n ** 63n - 1n,
            -9007199254740993n,
            0
          ])
        }))

      it.effect("Unauthorized: no token, a token that is not a UUID, an unknown token", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const none = yield* request("POST", snapshotPath(task.taskId), { body: oneMessage })
          assert.strictEqual(none.status, 401)
          assert.deepStrictEqual(none.json, { message: `Cookie "coder_session_token" must be provided.` })

          const malformed = yield* upload("not-a-uuid", task.taskId, oneMessage)
          assert.strictEqual(malformed.status, 401)
          assert.deepStrictEqual(malformed.json, {
            message: "Workspace agent token invalid.",
            detail: "An agent token must be a valid UUIDv4. (len 10)"
          })

          const unknown = yield* upload(randomUUID(), task.taskId, oneMessage)
          assert.strictEqual(unknown.status, 401)
          assert.strictEqual(unknown.json.message, "Workspace agent not authorized.")
          assert.isUndefined(yield* storedSnapshot(task.taskId))
        }))

      it.effect("a user API key is not an agent token", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* setup
          const response = yield* upload(owner.token, task.taskId, oneMessage)
          assert.strictEqual(response.status, 401)
          assert.strictEqual(response.json.message, "Workspace agent token invalid.")
        }))

      it.effect("InvalidTaskID: 400 with google/uuid's reason", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const response = yield* upload(task.agentToken, "not-a-uuid", oneMessage)
          assert.strictEqual(response.status, 400)
          assert.deepStrictEqual(response.json, {
            message: "Invalid task ID format.",
            detail: "invalid UUID length: 10"
          })
        }))

      it.effect("MissingFormat, repeated format, unknown parameters: 400 Invalid query parameters", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const missing = yield* upload(task.agentToken, task.taskId, oneMessage, { query: "" })
          assert.strictEqual(missing.status, 400)
          assert.deepStrictEqual(missing.json, {
            message: "Invalid query parameters.",
            validations: [{ field: "format", detail: `Query param "format" is required and cannot be empty` }]
          })

          const empty = yield* upload(task.agentToken, task.taskId, oneMessage, { query: "?format=" })
          assert.strictEqual(empty.json.validations[0].field, "format")

          const twice = yield* upload(task.agentToken, task.taskId, oneMessage, {
            query: "?format=agentapi&format=agentapi"
          })
          assert.strictEqual(twice.status, 400)
          assert.deepStrictEqual(twice.json.validations, [{
            field: "format",
            detail:
              `Query param "format" provided more than once, found 2 times. Only provide 1 instance of this query param.`
          }])

          const extra = yield* upload(task.agentToken, task.taskId, oneMessage, { query: "?format=agentapi&k=1" })
          assert.strictEqual(extra.status, 400)
          assert.deepStrictEqual(extra.json, {
            message: "Invalid query parameters.",
            validations: [{ field: "k", detail: `"k" is not a valid query param` }]
          })
          assert.isUndefined(yield* storedSnapshot(task.taskId))
        }))

      it.effect("InvalidFormat: 400 Invalid format parameter", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const response = yield* upload(task.agentToken, task.taskId, oneMessage, { query: "?format=unknown" })
          assert.strictEqual(response.status, 400)
          assert.deepStrictEqual(response.json, {
            message: "Invalid format parameter.",
            detail: `Only "agentapi" format is currently supported, got "unknown".`
          })
        }))

      it.effect("TaskNotFound: 404 with the standard body, before the body is read", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const response = yield* upload(task.agentToken, randomUUID(), "{not json")
          assert.strictEqual(response.status, 404)
          assert.deepStrictEqual(response.json, standard404)
        }))

      it.effect("WrongWorkspace: agent 1 cannot post for task 2, and can for its own", () =>
        Effect.gen(function*() {
          const { owner, task, template } = yield* setup
          const other = yield* createTaskWorkspace(owner, template)
          const wrong = yield* upload(task.agentToken, other.taskId, oneMessage)
          assert.strictEqual(wrong.status, 404)
          assert.deepStrictEqual(wrong.json, standard404)
          assert.isUndefined(yield* storedSnapshot(other.taskId))
          const own = yield* upload(task.agentToken, task.taskId, oneMessage)
          assert.strictEqual(own.status, 204)
        }))

      it.effect("MalformedJSON: 400 Failed to decode request payload", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          for (const body of ["{invalid json", "", "[]", `{"messages":"nope"}`, `{"messages":[{"id":"7"}]}`]) {
            const response = yield* upload(task.agentToken, task.taskId, body)
            assert.strictEqual(response.status, 400, body)
            assert.strictEqual(response.json.message, "Failed to decode request payload.", body)
            assert.isString(response.json.detail)
            assert.notProperty(response.json, "_tag")
          }
          // A schema problem names the path and the value it got, in one line.
          const wrongType = yield* upload(task.agentToken, task.taskId, `{"messages":[{"id":"7"}]}`)
          assert.include(wrongType.json.detail, `messages.0.id: Expected an integer, actual "7"`)
        }))

      it.effect("InvalidAgentAPIPayload: messages absent or null is 400, an empty array is stored", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          for (const body of [`{"truncated":false,"total_count":0}`, `{"messages":null}`, "null"]) {
            const response = yield* upload(task.agentToken, task.taskId, body)
            assert.strictEqual(response.status, 400, body)
            assert.deepStrictEqual(response.json, {
              message: "Invalid agentapi payload structure.",
              detail: `Missing required "messages" field.`
            })
          }
          const empty = yield* upload(task.agentToken, task.taskId, `{"messages":[]}`)
          assert.strictEqual(empty.status, 204)
          assert.deepStrictEqual((yield* storedSnapshot(task.taskId))?.log_snapshot, {
            format: "agentapi",
            data: { messages: [] }
          })
        }))

      it.effect("PayloadTooLarge: one message of 65 KiB is 400, and nothing is stored", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const body = JSON.stringify({ messages: [{ id: 0, content: "x".repeat(65 * 1024), role: "agent" }] })
          const response = yield* upload(task.agentToken, task.taskId, body)
          assert.strictEqual(response.status, 400)
          assert.deepStrictEqual(response.json, {
            message: "Failed to decode request payload.",
            detail: "http: request body too large"
          })
          assert.isUndefined(yield* storedSnapshot(task.taskId))
        }))

      it.effect("exactly 64 KiB is accepted; one byte more is not", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const envelope = (n: number) =>
            JSON.stringify({ messages: [{ id: 0, content: "y".repeat(n), role: "agent" }] })
          const overhead = envelope(0).length
          const fits = yield* upload(task.agentToken, task.taskId, envelope(65_536 - overhead))
          assert.strictEqual(fits.status, 204)
          const over = yield* upload(task.agentToken, task.taskId, envelope(65_537 - overhead))
          assert.strictEqual(over.status, 400)
        }))

      it.effect("a 100 MB body with Content-Length is refused without being read", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const result = yield* streamBody(snapshotPath(task.taskId), {
            token: task.agentToken,
            totalBytes: 100 * 1024 * 1024,
            declareLength: true
          })
          assert.strictEqual(result.status, 400)
          assert.strictEqual(JSON.parse(result.body).detail, "http: request body too large")
          assert.isBelow(result.sentBytes, 50 * 1024 * 1024)
        }))

      it.effect("a chunked body without Content-Length is cut off once it passes 64 KiB", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const result = yield* streamBody(snapshotPath(task.taskId), {
            token: task.agentToken,
            totalBytes: 100 * 1024 * 1024,
            declareLength: false
          })
          assert.strictEqual(result.status, 400)
          assert.strictEqual(JSON.parse(result.body).message, "Failed to decode request payload.")
          assert.isBelow(result.sentBytes, 50 * 1024 * 1024)
        }))

      it.effect("NUL in content is refused with a clear 400 (jsonb cannot store it)", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const body = JSON.stringify({ messages: [{ id: 0, content: "a\u0000b", role: "agent" }] })
          const response = yield* upload(task.agentToken, task.taskId, body)
          assert.strictEqual(response.status, 400)
          assert.strictEqual(response.json.message, "Snapshot contains text that cannot be stored.")
        }))

      it.effect("lone surrogates become U+FFFD, as Go's decoder does", () =>
        Effect.gen(function*() {
          const { task } = yield* setup
          const body = `{"messages":[{"id":0,"content":"a\\ud800b","role":"agent"}]}`
          assert.strictEqual((yield* upload(task.agentToken, task.taskId, body)).status, 204)
          const stored = yield* storedSnapshot(task.taskId)
          assert.strictEqual((stored?.log_snapshot as any).data.messages[0].content, "a\uFFFDb")
        }))

      it.effect("the stop-build window: the agent may upload while its stop build runs, not after", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* setup
          yield* addBuild(owner, task, { transition: "stop", jobStatus: "running" })
          const during = yield* upload(task.agentToken, task.taskId, oneMessage)
          assert.strictEqual(during.status, 204)
          yield* setLatestJobStatus(task, "succeeded")
          const after = yield* upload(task.agentToken, task.taskId, oneMessage)
          assert.strictEqual(after.status, 401)
        }))

      it.effect("DeletedTask: once a delete build exists, the agent token is refused", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* setup
          yield* addBuild(owner, task, { transition: "delete", jobStatus: "pending" })
          const response = yield* upload(task.agentToken, task.taskId, oneMessage)
          assert.strictEqual(response.status, 401)
          assert.strictEqual(response.json.message, "Workspace agent not authorized.")
        }))
    })
  })
}
