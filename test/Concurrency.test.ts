/**
 * Two taskd instances (each with its own pool) on one Postgres database, driven concurrently over real
 * sockets: racing uploads, uploads racing deletes, creates racing creates. Postgres only (PGlite is
 * single-session, so nothing races there); skipped, visibly, without TEST_DATABASE_URL.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Backends from "./support/Backends.ts"
import { adminToken, createTaskWorkspace, createTemplate, createUser, type TaskWorkspace } from "./support/Fixtures.ts"
import { messagesBody, send, sendJson, uploadTo } from "./support/Http.ts"
import * as TestServer from "./support/TestServer.ts"

const url = Backends.testDatabaseUrl

/** Two taskd instances (pools of 8) on one fresh database; fixtures run through A. */
const twoInstances = Effect.gen(function*() {
  const databaseUrl = yield* Backends.freshPostgresUrl(url!)
  const a = yield* TestServer.instance(databaseUrl, { poolSize: 8 })
  const b = yield* TestServer.instance(databaseUrl, { poolSize: 8 })
  return { a, b, run: a.run }
})

const payload = (content: string) => messagesBody([{ id: 1, content, role: "agent", time: "2025-01-01T10:00:00Z" }])

describe("concurrency (two instances, one Postgres)", () => {
  it.live.skipIf(url === undefined)(
    "200 concurrent uploads for 50 tasks: no 5xx, each task keeps one of its payloads, the latest captured",
    () =>
      Effect.gen(function*() {
        const { a, b, run } = yield* twoInstances
        const owner = yield* run(createUser())
        const template = yield* run(createTemplate())
        const tasks: Array<TaskWorkspace> = []
        for (let i = 0; i < 50; i++) tasks.push(yield* run(createTaskWorkspace(owner, template)))
        const sql = a.sql
        // Every capture time that reached the table, written or not: the stored one must be the latest.
        yield* sql`CREATE TABLE attempts (task_id uuid, captured_at timestamptz)`
        yield* sql.unsafe(`CREATE FUNCTION note_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO attempts VALUES (NEW.task_id, NEW.log_snapshot_created_at); RETURN NEW; END $$`)
        yield* sql.unsafe(`CREATE TRIGGER note_attempt BEFORE INSERT ON task_snapshots
          FOR EACH ROW EXECUTE FUNCTION note_attempt()`)

        const uploads = tasks.flatMap((task, t) =>
          [0, 1, 2, 3].map((k) => ({
            task,
            content: `task ${t} payload ${k}`,
            base: (t + k) % 2 === 0 ? a.base : b.base
          }))
        )
        const responses = yield* Effect.promise(() =>
          Promise.all(
            uploads.map((u) => uploadTo(u.base, u.task.agentToken, u.task.taskId, payload(u.content)))
          )
        )
        assert.deepStrictEqual([...new Set(responses.map((r) => r.status))], [204], JSON.stringify(responses))

        const stored = yield* sql<{ task_id: string; content: string; at: Date; latest: Date }>`
          SELECT s.task_id::text AS task_id, s.log_snapshot->'data'->'messages'->0->>'content' AS content,
                 s.log_snapshot_created_at AS at,
                 (SELECT max(captured_at) FROM attempts WHERE attempts.task_id = s.task_id) AS latest
          FROM task_snapshots s`
        assert.strictEqual(stored.length, 50)
        for (const row of stored) {
          const t = tasks.findIndex((task) => task.taskId === row.task_id)
          assert.match(row.content, new RegExp(`^task ${t} payload [0-3]$`))
          assert.strictEqual(row.at.getTime(), row.latest.getTime(), `task ${t}`)
        }
        const [attempts] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM attempts`
        assert.strictEqual(attempts!.n, 200)
      }),
    120_000
  )

  it.live.skipIf(url === undefined)(
    "uploads racing deletes: 204, 404 or 401 (the delete build revokes the agent), never a 5xx, and no snapshot left for a deleted task",
    () =>
      Effect.gen(function*() {
        const { a, b, run } = yield* twoInstances
        const owner = yield* run(createUser())
        const template = yield* run(createTemplate())
        const tasks: Array<TaskWorkspace> = []
        for (let i = 0; i < 40; i++) tasks.push(yield* run(createTaskWorkspace(owner, template)))
        const results = yield* Effect.promise(() =>
          Promise.all(tasks.flatMap((task, i) => [
            uploadTo(i % 2 === 0 ? a.base : b.base, task.agentToken, task.taskId, payload("racing")),
            uploadTo(i % 2 === 0 ? a.base : b.base, task.agentToken, task.taskId, payload("racing again")),
            send(i % 2 === 0 ? b.base : a.base, "DELETE", `/api/v2/tasks/me/${task.taskId}`, { token: owner.token })
          ]))
        )
        for (const [i, result] of results.entries()) {
          const expected = i % 3 === 2 ? [202] : [204, 401, 404]
          assert.include(expected, result.status, result.text)
        }
        const sql = a.sql
        const [orphans] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM task_snapshots s JOIN tasks t ON t.id = s.task_id
          WHERE t.deleted_at IS NOT NULL`
        assert.strictEqual(orphans!.n, 0)
        const [live] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasks WHERE deleted_at IS NULL
                                                  AND id IN ${sql.in(tasks.map((t) => t.taskId))}`
        assert.strictEqual(live!.n, 0)
      }),
    120_000
  )

  it.live.skipIf(url === undefined)(
    "creates racing with the same name: one 201, the rest 409",
    () =>
      Effect.gen(function*() {
        const { a, b, run } = yield* twoInstances
        const template = yield* run(createTemplate())
        const token = yield* run(adminToken)
        const responses = yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 12 }, (_, i) =>
            sendJson(i % 2 === 0 ? a.base : b.base, "POST", "/api/v2/tasks/me", token, {
              template_version_id: template.versionId,
              input: "same name",
              name: "same-name"
            })))
        )
        const statuses = responses.map((r) =>
          r.status
        ).sort()
        assert.deepStrictEqual(statuses, [201, ...Array(11).fill(409)], JSON.stringify(responses))
        const sql = a.sql
        const [rows] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasks WHERE name = 'same-name'`
        assert.strictEqual(rows!.n, 1)
      }),
    60_000
  )
})
