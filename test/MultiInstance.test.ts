/**
 * Two taskd instances sharing one Postgres database (Postgres only: PGlite is one process's database, so
 * these are skipped, and say so in their names, without TEST_DATABASE_URL). Each instance has its own
 * connection pool, HTTP server, job runner and recording provisioner. Tasks are created through both;
 * every start build must run exactly once across the two. And the races of test/Concurrency.test.ts
 * (support/Races.ts) with the requests spread over both instances: racing uploads, uploads racing
 * deletes, creates racing creates.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Backends from "./support/Backends.ts"
import { createTemplate, createUser } from "./support/Fixtures.ts"
import { sleepLive } from "./support/Net.ts"
import * as Races from "./support/Races.ts"
import { createTask, pollUntil } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const testDatabaseUrl = Backends.testDatabaseUrl

const taskCount = 30

/** Said in every test's name, so that a run without a Postgres server shows why these were skipped. */
const needs = "(Postgres only: needs TEST_DATABASE_URL)"

/** Two taskd instances (pools of `poolSize`) on one fresh database. */
const twoInstances = (poolSize?: number) =>
  Effect.gen(function*() {
    const databaseUrl = yield* Backends.freshPostgresUrl(testDatabaseUrl!)
    const options = poolSize === undefined ? {} : { poolSize }
    const a = yield* TestServer.instance(databaseUrl, options)
    const b = yield* TestServer.instance(databaseUrl, options)
    return { a, b }
  })

describe.skipIf(testDatabaseUrl === undefined)(`two instances on one Postgres database ${needs}`, () => {
  it.live(
    "every start build runs exactly once across both instances, and both do some of the work",
    () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoInstances()
        const onA = a.run
        const onB = b.run

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
            return yield* client.tasks.list({ query: { q: "owner:me status:initializing" } }).pipe(Effect.orDie)
          }))
        yield* pollUntil(
          initializing(onA),
          (list) => list.count === taskCount,
          (last) => `only ${last?.count} of ${taskCount} tasks became initializing`,
          60_000
        )
        assert.strictEqual((yield* initializing(onB)).count, taskCount)

        // Every job finished, and every start reached a provisioner.
        const sql = a.sql
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
        yield* sleepLive(1500)

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

describe.skipIf(testDatabaseUrl === undefined)(
  `concurrency, two instances (pools of 8) on one Postgres database ${needs}`,
  () => {
    it.live(
      "200 concurrent uploads for 50 tasks: all 204, each task keeps one of its payloads, the latest captured",
      () =>
        Effect.gen(function*() {
          const { a, b } = yield* twoInstances(8)
          yield* a.run(Races.racingUploads([a.base, b.base], 50, 4))
        }),
      120_000
    )

    it.live(
      "uploads racing deletes: 204, 404 or 401 (the delete build revokes the agent), never a 5xx, and no snapshot left for a deleted task",
      () =>
        Effect.gen(function*() {
          const { a, b } = yield* twoInstances(8)
          yield* a.run(Races.uploadsRacingDeletes([a.base, b.base], 40))
        }),
      120_000
    )

    it.live("creates racing with the same name: one 201, the rest 409", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoInstances(8)
        yield* a.run(Races.createsRacingOnOneName([a.base, b.base], 12))
      }), 60_000)
  }
)
