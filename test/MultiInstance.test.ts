/**
 * Two taskd instances sharing one Postgres database (Postgres only: PGlite is one process's database).
 * Each instance has its own connection pool, HTTP server, job runner and recording provisioner. Tasks are
 * created through both; every start build must run exactly once across the two.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as Database from "../src/Database/Database.ts"
import * as Server from "../src/Server.ts"
import { createTemplate, createUser } from "./support/Fixtures.ts"
import { createTask, pollUntil } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

const testDatabaseUrl = process.env["TEST_DATABASE_URL"]

/** A fresh database on the server for the scope; its URL. */
const freshDatabase = (url: string) =>
  Effect.gen(function*() {
    const name = `taskd_multi_${randomBytes(6).toString("hex")}`
    const admin = (statement: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })),
        Effect.scoped,
        Effect.orDie
      )
    yield* Effect.acquireRelease(
      admin(`CREATE DATABASE ${name}`),
      () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    )
    const target = new URL(url)
    target.pathname = `/${name}`
    return target.toString()
  })

/** One taskd instance: its own pool on the shared database, its own server, job runner and provisioner. */
const instance = (databaseUrl: string) => {
  const { layer: provisioner, record } = Workspaces.recording()
  const layer = Server.layer({ provisioner }).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(Database.migrated(Database.postgres(Redacted.make(databaseUrl), 4)))
  )
  return Effect.map(Layer.build(layer), (context) => ({ context, record }))
}

const taskCount = 30

describe.skipIf(testDatabaseUrl === undefined)("two instances on one Postgres database", () => {
  it.scopedLive(
    "every start build runs exactly once across both instances, and both do some of the work",
    () =>
      Effect.gen(function*() {
        const databaseUrl = yield* freshDatabase(testDatabaseUrl!)
        const a = yield* instance(databaseUrl)
        const b = yield* instance(databaseUrl)
        const onA = <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.provide(effect, a.context)
        const onB = <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.provide(effect, b.context)

        const user = yield* onA(createUser())
        const template = yield* onA(createTemplate())
        // Alternately through A and B, a few at a time, so that both job runners are woken and compete.
        const created = yield* Effect.forEach(
          Array.from({ length: taskCount }, (_, i) => i),
          (i) => (i % 2 === 0 ? onA : onB)(createTask(user, template.versionId, { input: `task number ${i}` })),
          { concurrency: 6 }
        )
        const ids = created.map((task) => task.id)
        assert.strictEqual(new Set(ids).size, taskCount)

        // All initializing, as seen from either instance.
        const initializing = (on: typeof onA) =>
          on(Effect.gen(function*() {
            const client = yield* TestServer.clientFor(user.token)
            return yield* client.tasks.list({ urlParams: { q: "owner:me status:initializing" } }).pipe(Effect.orDie)
          }))
        yield* pollUntil(
          initializing(onA),
          (list) => list.count === taskCount,
          (last) => `only ${last?.count} of ${taskCount} tasks became initializing`,
          60_000
        )
        assert.strictEqual((yield* initializing(onB)).count, taskCount)

        // Every job finished, and every start reached a provisioner.
        const sql = yield* onA(SqlClient.SqlClient)
        yield* pollUntil(
          sql<{ unfinished: number }>`
            SELECT count(*)::int AS unfinished FROM provisioner_jobs WHERE job_status != 'succeeded'`.pipe(
            Effect.orDie
          ),
          (rows) => rows[0]!.unfinished === 0,
          (rows) => `${rows?.[0]?.unfinished} jobs did not succeed`,
          60_000
        )
        yield* pollUntil(
          Effect.sync(() => a.record.starts.length + b.record.starts.length),
          (starts) => starts >= taskCount,
          (starts) => `only ${starts} starts reached a provisioner`,
          60_000
        )
        // Give a duplicate run the time to show up before counting.
        yield* Effect.sleep("1500 millis")

        const union = [...a.record.starts, ...b.record.starts].map((spec) => spec.taskId)
        const perTask = new Map<string | null, number>()
        for (const id of union) perTask.set(id, (perTask.get(id) ?? 0) + 1)
        const duplicated = [...perTask].filter(([, count]) => count !== 1)
        assert.deepStrictEqual(duplicated, [], "tasks started more than once")
        assert.sameMembers([...perTask.keys()], ids)
        assert.strictEqual(union.length, taskCount)

        // The database agrees: one build, one job and one agent per task.
        const [counts] = yield* sql<{ builds: number; jobs: number; agents: number }>`
          SELECT (SELECT count(*)::int FROM workspace_builds) AS builds,
                 (SELECT count(*)::int FROM provisioner_jobs) AS jobs,
                 (SELECT count(*)::int FROM workspace_agents) AS agents`
        assert.deepStrictEqual(counts, { builds: taskCount, jobs: taskCount, agents: taskCount })
        const workers = yield* sql<{ worker_id: string; jobs: number }>`
          SELECT worker_id, count(*)::int AS jobs FROM provisioner_jobs GROUP BY worker_id`

        // Each instance wakes its own runner for the tasks it created, so both take part.
        assert.isAbove(a.record.starts.length, 0, "instance A ran no start build")
        assert.isAbove(b.record.starts.length, 0, "instance B ran no start build")
        assert.isAtLeast(workers.length, 2)
      }),
    180_000
  )
})

describe.skipIf(testDatabaseUrl !== undefined)("two instances on one Postgres database", () => {
  it.skip("needs TEST_DATABASE_URL (a Postgres server); skipped on PGlite only", () => {})
})
