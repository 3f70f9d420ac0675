/**
 * The race scenarios, written once for any number of taskd instances on one database: requests fired
 * together over real sockets, spread over `bases` (the instances' base URLs; one base on PGlite, two on
 * Postgres). Each is an Effect in one instance's context (its SqlClient and HttpClient, for fixtures and
 * the checks made in SQL); the answers and what the database holds afterwards are asserted here.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import {
  adminToken,
  createTaskWorkspace,
  createTemplate,
  createUser,
  type TaskWorkspace,
  uniqueName
} from "./Fixtures.ts"
import { messagesBody, send, sendJson, uploadTo } from "./Http.ts"

/** An upload body of one agent message with `content`. */
const payload = (content: string) => messagesBody([{ id: 1, content, role: "agent", time: "2025-01-01T10:00:00Z" }])

const taskWorkspaces = (count: number) =>
  Effect.gen(function*() {
    const owner = yield* createUser()
    const template = yield* createTemplate()
    const tasks: Array<TaskWorkspace> = []
    for (let i = 0; i < count; i++) tasks.push(yield* createTaskWorkspace(owner, template))
    return { owner, tasks }
  })

/**
 * Notes every capture time that reaches task_snapshots, written or not (a BEFORE INSERT trigger into a table
 * `attempts`), for the life of the scope.
 */
const noteAttempts = Effect.acquireRelease(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE attempts (task_id uuid, captured_at timestamptz)`
    yield* sql.unsafe(`CREATE FUNCTION note_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO attempts VALUES (NEW.task_id, NEW.log_snapshot_created_at); RETURN NEW; END $$`)
    yield* sql.unsafe(`CREATE TRIGGER note_attempt BEFORE INSERT ON task_snapshots
      FOR EACH ROW EXECUTE FUNCTION note_attempt()`)
    return sql
  }).pipe(Effect.orDie),
  (sql) =>
    Effect.all([
      sql`DROP TRIGGER note_attempt ON task_snapshots`,
      sql`DROP FUNCTION note_attempt()`,
      sql`DROP TABLE attempts`
    ]).pipe(Effect.orDie)
)

/**
 * `perTask` concurrent uploads for each of `taskCount` tasks, all at once: every answer is a 204, and each
 * task keeps one of its own payloads, the one with the latest capture time of all its attempts.
 */
export const racingUploads = (bases: ReadonlyArray<string>, taskCount: number, perTask: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { tasks } = yield* taskWorkspaces(taskCount)
    const sql = yield* noteAttempts
    const uploads = tasks.flatMap((task, t) =>
      Array.from({ length: perTask }, (_, k) => ({
        task,
        content: `task ${t} payload ${k}`,
        base: bases[(t + k) % bases.length]!
      }))
    )
    const responses = yield* Effect.promise(() =>
      Promise.all(uploads.map((u) => uploadTo(u.base, u.task.agentToken, u.task.taskId, payload(u.content))))
    )
    assert.deepStrictEqual([...new Set(responses.map((r) => r.status))], [204], JSON.stringify(responses))

    const ids = tasks.map((task) => task.taskId)
    const stored = yield* sql<{ task_id: string; content: string; at: Date; latest: Date }>`
      SELECT s.task_id::text AS task_id, s.log_snapshot->'data'->'messages'->0->>'content' AS content,
             s.log_snapshot_created_at AS at,
             (SELECT max(captured_at) FROM attempts WHERE attempts.task_id = s.task_id) AS latest
      FROM task_snapshots s WHERE s.task_id IN ${sql.in(ids)}`.pipe(Effect.orDie)
    assert.strictEqual(stored.length, taskCount)
    for (const row of stored) {
      const t = tasks.findIndex((task) => task.taskId === row.task_id)
      assert.match(row.content, new RegExp(`^task ${t} payload \\d+$`))
      assert.isBelow(Number(row.content.split(" ").at(-1)), perTask)
      assert.strictEqual(new Date(row.at).getTime(), new Date(row.latest).getTime(), `task ${t}`)
    }
    const [attempts] = yield* sql<{ n: number }>`
      SELECT count(*)::int AS n FROM attempts WHERE task_id IN ${sql.in(ids)}`.pipe(Effect.orDie)
    assert.strictEqual(attempts!.n, taskCount * perTask)
  }))

/**
 * Two uploads and a delete for each of `taskCount` tasks, all at once (the delete through another instance
 * when there are two): deletes answer 202; uploads 204, 404 (the task is gone) or 401 (the delete build
 * revoked the agent), never a 5xx; afterwards no task is live and no deleted task has a snapshot.
 */
export const uploadsRacingDeletes = (bases: ReadonlyArray<string>, taskCount: number) =>
  Effect.gen(function*() {
    const { owner, tasks } = yield* taskWorkspaces(taskCount)
    const results = yield* Effect.promise(() =>
      Promise.all(tasks.flatMap((task, i) => {
        const near = bases[i % bases.length]!
        const far = bases[(i + 1) % bases.length]!
        return [
          uploadTo(near, task.agentToken, task.taskId, payload("racing")),
          uploadTo(near, task.agentToken, task.taskId, payload("racing again")),
          send(far, "DELETE", `/api/v2/tasks/me/${task.taskId}`, { token: owner.token })
        ]
      }))
    )
    for (const [i, result] of results.entries()) {
      const expected = i % 3 === 2 ? [202] : [204, 401, 404]
      assert.include(expected, result.status, result.text)
    }
    const sql = yield* SqlClient.SqlClient
    const ids = tasks.map((t) => t.taskId)
    const [orphans] = yield* sql<{ n: number }>`
      SELECT count(*)::int AS n FROM task_snapshots s JOIN tasks t ON t.id = s.task_id
      WHERE t.deleted_at IS NOT NULL AND t.id IN ${sql.in(ids)}`.pipe(Effect.orDie)
    assert.strictEqual(orphans!.n, 0, "snapshots left for deleted tasks")
    const [live] = yield* sql<{ n: number }>`
      SELECT count(*)::int AS n FROM tasks WHERE deleted_at IS NULL AND id IN ${sql.in(ids)}`.pipe(Effect.orDie)
    assert.strictEqual(live!.n, 0, "tasks still live after their delete answered 202")
  })

/** `count` creates with one task name, all at once: one 201 and the rest 409, and one task of that name. */
export const createsRacingOnOneName = (bases: ReadonlyArray<string>, count: number) =>
  Effect.gen(function*() {
    const template = yield* createTemplate()
    const token = yield* adminToken
    const name = uniqueName("same-name")
    const responses = yield* Effect.promise(() =>
      Promise.all(Array.from({ length: count }, (_, i) =>
        sendJson(bases[i % bases.length]!, "POST", "/api/v2/tasks/me", token, {
          template_version_id: template.versionId,
          input: "same name",
          name
        })))
    )
    const statuses = responses.map((r) =>
      r.status
    ).sort()
    assert.deepStrictEqual(statuses, [201, ...Array(count - 1).fill(409)], JSON.stringify(responses))
    const sql = yield* SqlClient.SqlClient
    const [rows] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasks WHERE name = ${name}`.pipe(
      Effect.orDie
    )
    assert.strictEqual(rows!.n, 1)
  })
