/**
 * Security: tokens stored only as hashes and never logged, agent and user tokens kept to their own
 * endpoints and workspaces, expired and deleted keys refused, members isolated from each other's tasks,
 * and injection attempts that change nothing. On every backend.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { adminToken, createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import { messagesBody, request, snapshotPath } from "./support/Http.ts"
import * as ManualClock from "./support/ManualClock.ts"
import { standard404 } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

/** Every log line the server writes, in logfmt, with causes and annotations. */
const logs: Array<string> = []
const capture = Logger.layer([Logger.map(Logger.formatLogFmt, (line) => void logs.push(line))])
const logEverything = Layer.succeed(References.MinimumLogLevel, "All")

const oneMessage = messagesBody([{ id: 1, content: "x", role: "agent" }])

const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ tasks: number; users: number; keys: number; snapshots: number }>`
    SELECT (SELECT count(*)::int FROM tasks) AS tasks, (SELECT count(*)::int FROM users) AS users,
           (SELECT count(*)::int FROM api_keys) AS keys, (SELECT count(*)::int FROM task_snapshots) AS snapshots`
  return row!
}).pipe(Effect.orDie)

for (const backend of Backends.all) {
  // taskd reads the test's clock (key expiry): a manual one, as ManualClock.ts explains.
  const time = ManualClock.make()
  layer(
    Layer.merge(
      TestServer.layer(backend, { clock: time.clock }).pipe(Layer.provide(capture), Layer.provide(logEverything)),
      time.layer
    ),
    { timeout: 120_000, excludeTestServices: true }
  )(`security [${backend.name}]`, (it) => {
    it.effect("tokens are stored only as hashes", () =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const task = yield* createTaskWorkspace(owner, yield* createTemplate())
        const sql = yield* SqlClient.SqlClient
        const [id, secret] = [owner.token.slice(0, 10), owner.token.slice(11)]
        const keys = yield* sql<{ id: string; hashed_secret: Uint8Array }>`SELECT * FROM api_keys WHERE id = ${id}`
        assert.strictEqual(keys.length, 1)
        const dump = JSON.stringify(yield* sql`SELECT * FROM api_keys`) +
          JSON.stringify(yield* sql`SELECT * FROM workspace_agents`)
        assert.notInclude(dump, secret)
        assert.notInclude(dump, task.agentToken)
        assert.notInclude(Buffer.from(keys[0]!.hashed_secret).toString("utf8"), secret)
      }))

    it.effect("a token never appears in the logs: header, cookie, query, bearer; good and bad", () =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const task = yield* createTaskWorkspace(owner, yield* createTemplate())
        const bad = `${owner.token.slice(0, 11)}${"z".repeat(22)}`
        logs.length = 0
        for (const token of [owner.token, bad, task.agentToken]) {
          yield* request("GET", "/api/v2/tasks", { headers: { "coder-session-token": token } })
          yield* request("GET", "/api/v2/tasks", { headers: { cookie: `coder_session_token=${token}` } })
          yield* request("GET", `/api/v2/tasks?coder_session_token=${token}`)
          yield* request("GET", `/api/v2/tasks/me/nope?access_token=${token}`)
          yield* request("GET", "/api/v2/tasks/me/%00", { headers: { authorization: `Bearer ${token}` } })
          yield* request("POST", snapshotPath(task.taskId), { token, body: "{" })
          yield* request("POST", `${snapshotPath(task.taskId)}&coder_session_token=${token}`, { token, body: "{" })
        }
        assert.isAbove(logs.length, 10, "the request log must be captured")
        const all = logs.join("\n")
        for (const token of [owner.token, owner.token.slice(11), bad.slice(11), task.agentToken]) {
          assert.notInclude(all, token)
        }
      }))

    it.effect("agent tokens: not another workspace's task, not user endpoints; user tokens not agent endpoints", () =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const template = yield* createTemplate()
        const mine = yield* createTaskWorkspace(owner, template)
        const other = yield* createTaskWorkspace(owner, template)
        const before = yield* counts
        const cross = yield* request("POST", snapshotPath(other.taskId), { token: mine.agentToken, body: oneMessage })
        assert.strictEqual(cross.status, 404)
        assert.deepStrictEqual(cross.json, standard404)
        const asUser = yield* request("GET", "/api/v2/tasks", { token: mine.agentToken })
        assert.strictEqual(asUser.status, 401)
        const userOnAgent = yield* request("POST", snapshotPath(mine.taskId), {
          token: owner.token,
          body: oneMessage
        })
        assert.strictEqual(userOnAgent.status, 401)
        assert.strictEqual((yield* counts).snapshots, before.snapshots)
      }))

    it.effect("expired and deleted keys are refused", () =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const sql = yield* SqlClient.SqlClient
        const id = owner.token.slice(0, 10)
        assert.strictEqual((yield* request("GET", "/api/v2/users/me", { token: owner.token })).status, 200)
        // The server reads the test clock: put it at the real time, and the expiry a minute before.
        yield* time.setTime(Date.now())
        yield* sql`UPDATE api_keys SET expires_at = ${new Date(Date.now() - 60_000)} WHERE id = ${id}`
        const expired = yield* request("GET", "/api/v2/users/me", { token: owner.token })
        assert.strictEqual(expired.status, 401)
        assert.match(expired.json.detail, /^API key expired at/)
        yield* sql`DELETE FROM api_keys WHERE id = ${id}`
        const deleted = yield* request("GET", "/api/v2/users/me", { token: owner.token })
        assert.strictEqual(deleted.status, 401)
        assert.strictEqual(deleted.json.detail, "API key is invalid.")
      }))

    it.effect("a member cannot see, change or learn of another member's task: the 404 of a random id", () =>
      Effect.gen(function*() {
        const alice = yield* createUser()
        const bob = yield* createUser()
        const task = yield* createTaskWorkspace(alice, yield* createTemplate())
        const random = randomUUID()
        const before = yield* counts
        const probes = [
          ["GET", ""],
          ["GET", "/logs"],
          ["DELETE", ""],
          ["POST", "/pause"],
          ["POST", "/resume"],
          ["PATCH", "/input"],
          ["POST", "/send"]
        ] as const
        for (const [method, suffix] of probes) {
          for (const user of ["me", alice.username, alice.id]) {
            const body = method === "PATCH" || suffix === "/send" ? JSON.stringify({ input: "hi" }) : undefined
            const real = yield* request(method, `/api/v2/tasks/${user}/${task.taskId}${suffix}`, {
              token: bob.token,
              ...(body === undefined ? {} : { body })
            })
            const fake = yield* request(method, `/api/v2/tasks/${user}/${random}${suffix}`, {
              token: bob.token,
              ...(body === undefined ? {} : { body })
            })
            assert.strictEqual(real.status, fake.status, `${method} ${suffix} as ${user}`)
            assert.strictEqual(real.text, fake.text, `${method} ${suffix} as ${user}`)
          }
        }
        const byName = yield* request("GET", `/api/v2/tasks/${alice.username}/${task.name}`, { token: bob.token })
        assert.strictEqual(byName.status, 404)
        const list = yield* request("GET", `/api/v2/tasks?q=owner:${alice.username}`, { token: bob.token })
        assert.deepStrictEqual(list.json?.tasks ?? [], [])
        assert.deepStrictEqual(yield* counts, before)
        const [row] = yield* (yield* SqlClient.SqlClient)<{ deleted_at: Date | null }>`
          SELECT deleted_at FROM tasks WHERE id = ${task.taskId}`
        assert.isNull(row!.deleted_at)
      }))

    it.effect("injection attempts in q, names, display names and path parameters change nothing", () =>
      Effect.gen(function*() {
        const admin = yield* adminToken
        const member = yield* createUser()
        const template = yield* createTemplate()
        yield* createTaskWorkspace(member, template)
        const attacks = [
          `x' OR 1=1 --`,
          `'; DROP TABLE tasks; --`,
          `"; DELETE FROM users; --`,
          `x\\' OR ''='`,
          `1; UPDATE api_keys SET expires_at = now()`
        ]
        const before = yield* counts
        for (const attack of attacks) {
          for (const q of [`owner:"${attack}"`, attack, `status:"${attack}"`, `organization:"${attack}"`]) {
            const answer = yield* request("GET", `/api/v2/tasks?q=${encodeURIComponent(q)}`, { token: member.token })
            assert.include([200, 400], answer.status, q)
            if (answer.status === 200) assert.deepStrictEqual(answer.json.tasks, [], q)
          }
          const path = `/api/v2/tasks/${encodeURIComponent(attack)}/${encodeURIComponent(attack)}`
          assert.include([400, 404], (yield* request("GET", path, { token: member.token })).status)
          const created = yield* request("POST", "/api/v2/tasks/me", {
            token: admin,
            body: JSON.stringify({ template_version_id: template.versionId, input: attack, name: attack })
          })
          assert.strictEqual(created.status, 400)
        }
        assert.deepStrictEqual(yield* counts, before)
        // A display name with quotes and semicolons is stored verbatim, as one new task.
        const display = `a'; DROP TABLE tasks; --"`
        const created = yield* request("POST", "/api/v2/tasks/me", {
          token: admin,
          body: JSON.stringify({ template_version_id: template.versionId, input: "x", display_name: display })
        })
        assert.strictEqual(created.status, 201, created.text)
        assert.strictEqual(created.json.display_name, display)
        const after = yield* counts
        assert.deepStrictEqual(after, { ...before, tasks: before.tasks + 1 })
      }))
  })
}
