/**
 * Logs and send (spec §3.6-§3.8, §7.5 and §9 Send, Logs, LogsWithSnapshot), with an agentapi double on a
 * real socket. The job runner is off here: each task is put in its state directly, as Coder's tests do.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import type * as http from "node:http"
import * as Backends from "./support/Backends.ts"
import { fakeServer, type RecordedRequest } from "./support/FakeHttp.ts"
import { addBuild, createTaskWorkspace, createTemplate, createUser, type TestUser } from "./support/Fixtures.ts"
import { messagesBody, request, upload } from "./support/Http.ts"
import * as ManualClock from "./support/ManualClock.ts"
import { noJobWorkers, standard404 } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

/** What the agentapi double answers; tests change it. */
const agentApi = {
  status: "stable",
  messagesStatus: 200,
  messages: [
    { id: 0, content: "Welcome, user!", role: "agent", time: "2025-09-25T10:42:48Z" },
    { id: 1, content: "Hello, Agent!", role: "user", time: "2025-09-25T10:43:00.5+02:00" },
    { id: 2, content: "Done.", role: "agent", time: "2025-09-25T10:44:00Z" }
  ] as Array<{ id: number; content: string; role: string; time: string }>
}

const answer = (req: RecordedRequest, res: http.ServerResponse) => {
  const json = (code: number, body: unknown) => {
    res.writeHead(code, { "content-type": "application/json" })
    res.end(JSON.stringify(body))
  }
  if (req.method === "GET" && req.path === "/status") {
    return json(200, { status: agentApi.status, agent_type: "claude" })
  }
  if (req.method === "GET" && req.path === "/messages") {
    return json(agentApi.messagesStatus, agentApi.messagesStatus === 200 ? { messages: agentApi.messages } : {})
  }
  if (req.method === "POST" && req.path === "/message") return json(200, { ok: true })
  json(500, { error: "unexpected request" })
}

const path = (owner: TestUser, taskId: string, rest: string) => `/api/v2/tasks/${owner.username}/${taskId}${rest}`

for (const backend of Backends.all) {
  // Capture times come from the test's clock: a manual one, as ManualClock.ts explains.
  const time = ManualClock.make()
  layer(Layer.merge(TestServer.layer(backend, { clock: time.clock }).pipe(Layer.provide(noJobWorkers)), time.layer), {
    timeout: 120_000,
    excludeTestServices: true
  })(`logs and send [${backend.name}]`, (it) => {
    const activeTask = (appUrl: string, options: Parameters<typeof createTaskWorkspace>[2] = {}) =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const template = yield* createTemplate()
        const task = yield* createTaskWorkspace(owner, template, { appUrl, ...options })
        return { owner, template, task }
      })

    it.effect("Logs OK: the live conversation, roles mapped, times as agentapi wrote them", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer(answer)
        const { owner, task } = yield* activeTask(fake.url)
        const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(response.json, {
          logs: [
            { id: 0, content: "Welcome, user!", type: "output", time: "2025-09-25T10:42:48Z" },
            { id: 1, content: "Hello, Agent!", type: "input", time: "2025-09-25T10:43:00.5+02:00" },
            { id: 2, content: "Done.", type: "output", time: "2025-09-25T10:44:00Z" }
          ]
        })
      }))

    it.effect("Logs UpstreamError: agentapi failing is a 502", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer(answer)
        const { owner, task } = yield* activeTask(fake.url)
        agentApi.messagesStatus = 500
        const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token }).pipe(
          Effect.ensuring(Effect.sync(() => agentApi.messagesStatus = 200))
        )
        assert.strictEqual(response.status, 502)
        assert.strictEqual(response.json.message, "Failed to get messages from task app.")
        assert.include(response.json.detail, "500")
      }))

    it.effect("Logs: agentapi's int64 ids come back with every digit; an id outside int64 is a 502", () =>
      Effect.gen(function*() {
        let ids = ["9007199254740993", "-9223372036854775808", "9223372036854775807"]
        const fake = yield* fakeServer((_, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(
            `{"messages":[${
              ids.map((id) => `{"id":${id},"content":"x","role":"agent","time":"2025-01-01T00:00:00Z"}`).join(",")
            }]}`
          )
        })
        const { owner, task } = yield* activeTask(fake.url)
        const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
        assert.strictEqual(response.status, 200)
        assert.strictEqual(
          response.text,
          `{"logs":[${
            ids.map((id) => `{"id":${id},"content":"x","type":"output","time":"2025-01-01T00:00:00Z"}`).join(",")
          }]}`
        )
        ids = ["9223372036854775808"]
        const outside = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
        assert.strictEqual(outside.status, 502)
        assert.strictEqual(outside.json.message, "Failed to get messages from task app.")
        assert.include(
          outside.json.detail,
          "invalid response: messages.0.id: Expected an int64, between -9223372036854775808 and 9223372036854775807"
        )
      }))

    it.effect("Logs: an unknown role from agentapi is a 502 Invalid task app response", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer((_, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(
            JSON.stringify({ messages: [{ id: 0, content: "x", role: "system", time: "2025-01-01T00:00:00Z" }] })
          )
        })
        const { owner, task } = yield* activeTask(fake.url)
        const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
        assert.strictEqual(response.status, 502)
        assert.deepStrictEqual(response.json, {
          message: "Invalid task app response.",
          detail: `invalid agentapi message role "system"`
        })
      }))

    it.effect("Send OK: 204 and agentapi receives exactly the user message", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer(answer)
        const { owner, task } = yield* activeTask(fake.url)
        const response = yield* request("POST", path(owner, task.taskId, "/send"), {
          token: owner.token,
          body: JSON.stringify({ input: "Hello, Agent!" })
        })
        assert.strictEqual(response.status, 204)
        const posted = fake.requests.find((r) => r.method === "POST" && r.path === "/message")
        assert.deepStrictEqual(JSON.parse(posted!.body.toString("utf8")), { content: "Hello, Agent!", type: "user" })
      }))

    it.effect("Send: agentapi not stable is 502, nothing is posted", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer(answer)
        const { owner, task } = yield* activeTask(fake.url)
        agentApi.status = "bad"
        const response = yield* request("POST", path(owner, task.taskId, "/send"), {
          token: owner.token,
          body: JSON.stringify({ input: "Hello" })
        }).pipe(Effect.ensuring(Effect.sync(() => agentApi.status = "stable")))
        assert.strictEqual(response.status, 502)
        assert.deepStrictEqual(response.json, {
          message: "Task app is not ready to accept input.",
          detail: "Status: bad"
        })
        assert.isUndefined(fake.requests.find((r) => r.method === "POST"))
      }))

    it.effect("Send MissingContent: empty input is 400", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer(answer)
        const { owner, task } = yield* activeTask(fake.url)
        const response = yield* request("POST", path(owner, task.taskId, "/send"), {
          token: owner.token,
          body: JSON.stringify({ input: "" })
        })
        assert.strictEqual(response.status, 400)
        assert.deepStrictEqual(response.json, { message: "Task input is required." })
      }))

    it.effect("Send TaskNotFound: 404", () =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const response = yield* request("POST", path(owner, "6f1b1a0e-0000-4000-8000-000000000000", "/send"), {
          token: owner.token,
          body: JSON.stringify({ input: "hi" })
        })
        assert.strictEqual(response.status, 404)
      }))

    it.effect("Send to non-active states: paused, initializing, pending are 409; error is 400", () =>
      Effect.gen(function*() {
        const fake = yield* fakeServer(answer)
        const send = (owner: TestUser, taskId: string) =>
          request("POST", path(owner, taskId, "/send"), { token: owner.token, body: JSON.stringify({ input: "hi" }) })

        // Each state from the build that puts the task in it; the 409 names the state and what to do.
        const states = [
          { state: "paused", build: { transition: "stop", jobStatus: "succeeded" }, hint: "Resume" },
          { state: "initializing", build: { transition: "start", jobStatus: "running" }, hint: "resuming" },
          { state: "pending", build: { transition: "start", jobStatus: "pending" }, hint: "resuming" }
        ] as const
        for (const { build, hint, state } of states) {
          const { owner, task } = yield* activeTask(fake.url)
          yield* addBuild(owner, task, build)
          const response = yield* send(owner, task.taskId)
          assert.strictEqual(response.status, 409, state)
          assert.include(response.json.message, state)
          assert.include(response.json.detail, hint)
        }

        const failing = yield* activeTask(fake.url, { appHealth: "unhealthy" })
        const errorResponse = yield* send(failing.owner, failing.task.taskId)
        assert.strictEqual(errorResponse.status, 400)
        assert.include(errorResponse.json.message, "must be active")
        assert.isUndefined(fake.requests.find((r) => r.method === "POST"))
      }))

    describe("LogsWithSnapshot", () => {
      const messages = {
        messages: [
          { id: 0, content: "First message", role: "agent", time: "2025-01-01T10:00:00Z" },
          { id: 1, content: "Second message", role: "user", time: "2025-01-01T10:01:00Z" }
        ]
      }
      const expectedLogs = [
        { id: 0, content: "First message", type: "output", time: "2025-01-01T10:00:00Z" },
        { id: 1, content: "Second message", type: "input", time: "2025-01-01T10:01:00Z" }
      ]
      for (const state of ["paused", "pending", "initializing"] as const) {
        it.effect(`${state} task returns the snapshot`, () =>
          Effect.gen(function*() {
            // Keys are issued on the test clock, so set it before the users are made.
            yield* time.setTime(Date.parse("2025-01-01T10:05:00Z"))
            const { owner, task } = yield* activeTask("")
            assert.strictEqual(
              (yield* upload(task.agentToken, task.taskId, messagesBody(messages.messages))).status,
              204
            )
            if (state === "paused") yield* addBuild(owner, task, { transition: "stop", jobStatus: "succeeded" })
            if (state === "pending") yield* addBuild(owner, task, { transition: "start", jobStatus: "pending" })
            if (state === "initializing") yield* addBuild(owner, task, { transition: "start", jobStatus: "running" })
            const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
            assert.strictEqual(response.status, 200)
            assert.deepStrictEqual(response.json, {
              logs: expectedLogs,
              snapshot: true,
              snapshot_at: "2025-01-01T10:05:00Z"
            })
          }))
      }

      it.effect("no snapshot: snapshot true, no snapshot_at, no logs", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* activeTask("")
          yield* addBuild(owner, task, { transition: "start", jobStatus: "pending" })
          const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
          assert.deepStrictEqual(response.json, { logs: [], snapshot: true })
        }))

      const storeRaw = (taskId: string, envelope: unknown) =>
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql`INSERT INTO task_snapshots (task_id, log_snapshot, log_snapshot_created_at)
              VALUES (${taskId}, ${JSON.stringify(envelope)}::jsonb, now())`
        ).pipe(Effect.orDie)

      it.effect("InvalidSnapshotFormat and MalformedSnapshotData are 500s with Coder's messages", () =>
        Effect.gen(function*() {
          const unknownFormat = yield* activeTask("")
          yield* storeRaw(unknownFormat.task.taskId, { format: "unknown-format", data: messages })
          yield* addBuild(unknownFormat.owner, unknownFormat.task, { transition: "stop", jobStatus: "succeeded" })
          const formatResponse = yield* request(
            "GET",
            path(unknownFormat.owner, unknownFormat.task.taskId, "/logs"),
            {
              token: unknownFormat.owner.token
            }
          )
          assert.strictEqual(formatResponse.status, 500)
          assert.deepStrictEqual(formatResponse.json, {
            message: "Unsupported task snapshot format.",
            detail: `Expected format "agentapi", got "unknown-format".`
          })

          const malformed = yield* activeTask("")
          yield* storeRaw(malformed.task.taskId, { format: "agentapi", data: "not an object" })
          yield* addBuild(malformed.owner, malformed.task, { transition: "stop", jobStatus: "succeeded" })
          const malformedResponse = yield* request("GET", path(malformed.owner, malformed.task.taskId, "/logs"), {
            token: malformed.owner.token
          })
          assert.strictEqual(malformedResponse.status, 500)
          assert.strictEqual(malformedResponse.json.message, "Internal error decoding task snapshot.")
        }))

      it.effect("ErrorStateReturnsError: 409 naming the status", () =>
        Effect.gen(function*() {
          const { owner, task } = yield* activeTask("", { appHealth: "unhealthy" })
          const response = yield* request("GET", path(owner, task.taskId, "/logs"), { token: owner.token })
          assert.strictEqual(response.status, 409)
          assert.deepStrictEqual(response.json, {
            message: "Cannot fetch logs for task in current state.",
            detail: `Task status is "error".`
          })
        }))

      it.effect("another member cannot read the logs (standard 404)", () =>
        Effect.gen(function*() {
          const { task } = yield* activeTask("")
          const stranger = yield* createUser()
          const response = yield* request("GET", path(stranger, task.taskId, "/logs"), { token: stranger.token })
          assert.strictEqual(response.status, 404)
          assert.deepStrictEqual(response.json, standard404)
        }))
    })
  })
}
