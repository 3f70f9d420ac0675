/**
 * The schema migrations and the first-start bootstrap, each on a database of its own: applied once however
 * often and however concurrently they run.
 */
import { assert, describe, it as effectIt, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { createHash } from "node:crypto"
import * as Database from "../src/Database/Database.ts"
import * as Embedded from "../src/Database/Embedded.ts"
import { loadMigrations, migrate } from "../src/Database/Migrations.ts"
import { bootstrap } from "../src/Users/Bootstrap.ts"
import * as Backends from "./support/Backends.ts"
import { request } from "./support/Http.ts"
import * as TestServer from "./support/TestServer.ts"

const shipped = loadMigrations()

/** Bootstrap with exactly these settings, whatever the environment of the test run holds. */
const bootstrapWith = (env: Record<string, string> = {}) =>
  bootstrap.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })))

const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ users: number; organizations: number; keys: number; members: number }>`
    SELECT (SELECT count(*)::int FROM users) AS users,
           (SELECT count(*)::int FROM organizations) AS organizations,
           (SELECT count(*)::int FROM api_keys) AS keys,
           (SELECT count(*)::int FROM organization_members) AS members`
  return row!
}).pipe(Effect.orDie)

const recordedMigrations = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ id: number; name: string; n: number }>`
    SELECT id, name, count(*) OVER (PARTITION BY id)::int AS n FROM taskd_migrations ORDER BY id`
).pipe(Effect.orDie)

const apiKeyPattern = /^[a-zA-Z0-9]{10}-[a-zA-Z0-9]{22}$/

for (const backend of Backends.all) {
  layer(TestServer.layer(backend), { timeout: 120_000 })(`database [${backend.name}]`, (it) => {
    it.effect("migrations: a new database gets every file once; a second run applies nothing", () =>
      Effect.gen(function*() {
        assert.isAbove(shipped.length, 0)
        const first = yield* migrate()
        assert.deepStrictEqual(first.map((m) => m.id), shipped.map((m) => m.id))
        const second = yield* migrate()
        assert.deepStrictEqual(second, [])
        assert.deepStrictEqual(yield* recordedMigrations, shipped.map(({ id, name }) => ({ id, name, n: 1 })))
        // The schema is really there.
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM tasks_with_status`, [{ n: 0 }])
      }).pipe(Effect.provide(backend.unmigrated, { local: true })))

    it.effect("migrations: the suite's own database, migrated when the server started, is up to date", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* migrate(), [])
        assert.deepStrictEqual(yield* recordedMigrations, shipped.map(({ id, name }) => ({ id, name, n: 1 })))
      }))

    it.effect.skipIf(backend.name !== "postgres")(
      "migrations: two migrators started together on one new database both succeed, each file recorded once (Postgres only: PGlite has one connection)",
      () =>
        Effect.gen(function*() {
          const url = Redacted.make(yield* Backends.freshPostgresUrl(Backends.testDatabaseUrl!))
          // Two pools, as two taskd instances would have.
          const migrator = Effect.provide(migrate(), Database.postgres(url, 2), { local: true })
          const [a, b] = yield* Effect.all([migrator, migrator], { concurrency: "unbounded" })
          assert.sameMembers([a.length, b.length], [shipped.length, 0])
          const recorded = yield* Effect.provide(recordedMigrations, Database.postgres(url, 1), { local: true })
          assert.deepStrictEqual(recorded, shipped.map(({ id, name }) => ({ id, name, n: 1 })))
        })
    )

    it.effect("bootstrap: an empty database gets organization default and owner admin, with a printed token", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const result = yield* bootstrapWith()
        assert.isTrue(result.created)
        assert.isTrue(Option.isSome(result.generatedToken))
        const token = Option.getOrThrow(result.generatedToken)
        assert.match(token, apiKeyPattern)

        assert.deepStrictEqual(yield* sql`SELECT name, display_name FROM organizations`, [
          { name: "default", display_name: "Default" }
        ])
        assert.deepStrictEqual(
          yield* sql`SELECT u.username, u.email, u.role, o.name AS organization
                     FROM users u
                     JOIN organization_members m ON m.user_id = u.id
                     JOIN organizations o ON o.id = m.organization_id`,
          [{ username: "admin", email: "admin@localhost", role: "owner", organization: "default" }]
        )
        const [id, secret] = token.split("-") as [string, string]
        const [key] = yield* sql<{ id: string; hashed_secret: Uint8Array }>`SELECT id, hashed_secret FROM api_keys`
        assert.strictEqual(key!.id, id)
        assert.deepStrictEqual(Buffer.from(key!.hashed_secret), createHash("sha256").update(secret).digest())

        const me = yield* request("GET", "/api/v2/users/me", { token })
        assert.strictEqual(me.status, 200)
        assert.strictEqual(me.json.username, "admin")
        assert.deepStrictEqual(me.json.roles, ["owner"])

        // A second start finds users and does nothing, and prints no token.
        const again = yield* bootstrapWith()
        assert.deepStrictEqual(again, { created: false, generatedToken: Option.none() })
        assert.deepStrictEqual(yield* counts, { users: 1, organizations: 1, keys: 1, members: 1 })
      }).pipe(Effect.provide(TestServer.layer(backend), { local: true })))

    it.effect("bootstrap: instances starting together create one admin", () =>
      Effect.gen(function*() {
        const results = yield* Effect.all(Array.from({ length: 4 }, () => bootstrapWith()), {
          concurrency: "unbounded"
        })
        assert.strictEqual(results.filter((r) => r.created).length, 1)
        assert.strictEqual(results.filter((r) => Option.isSome(r.generatedToken)).length, 1)
        assert.deepStrictEqual(yield* counts, { users: 1, organizations: 1, keys: 1, members: 1 })
      }).pipe(Effect.provide(backend.layer, { local: true })))

    it.effect("bootstrap: TASKD_BOOTSTRAP_TOKEN becomes the admin's token, and is not printed", () =>
      Effect.gen(function*() {
        const token = "AbCdEf0123-abcdefghijklmnopqrstuv"
        const result = yield* bootstrapWith({ TASKD_BOOTSTRAP_TOKEN: token })
        assert.deepStrictEqual(result, { created: true, generatedToken: Option.none() })
        const me = yield* request("GET", "/api/v2/users/me", { token })
        assert.strictEqual(me.status, 200)
        assert.strictEqual(me.json.username, "admin")

        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ row: string }>`SELECT row_to_json(k)::text AS row FROM api_keys k`
        assert.strictEqual(rows.length, 1)
        assert.notInclude(rows[0]!.row, "abcdefghijklmnopqrstuv")
      }).pipe(Effect.provide(TestServer.layer(backend), { local: true })))

    it.effect("bootstrap: a malformed TASKD_BOOTSTRAP_TOKEN is a config error that names it, and creates nothing", () =>
      Effect.gen(function*() {
        const cases = [
          ["not-a-key", "incorrect amount of API key parts, expected 2 got 3"],
          ["abcdefghij-tooShortSecret", "invalid API key secret length, expected 22 got 14"]
        ] as const
        for (const [token, reason] of cases) {
          const exit = yield* Effect.exit(bootstrapWith({ TASKD_BOOTSTRAP_TOKEN: token }))
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isSuccess(exit)) continue
          const error = Cause.squash(exit.cause)
          assert.instanceOf(error, Config.ConfigError, String(error))
          assert.include(String(error), `TASKD_BOOTSTRAP_TOKEN is not a Coder API key: ${reason}`)
          assert.notInclude(String(error), "tooShortSecret")
        }
        assert.deepStrictEqual(yield* counts, { users: 0, organizations: 0, keys: 0, members: 0 })
      }))
  })
}

describe("embedded database connection", () => {
  // PGlite cannot cancel a statement, so the client retires the connection of every statement interrupted
  // while PGlite runs it, and opens a replacement while its CancelRequest's side connection is still open.
  effectIt.live(
    "a statement interrupted while PGlite runs it costs no request after it a 503",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { db, host, port } = yield* Embedded.serveEmbedded("memory://")
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`SELECT 1`
          // PGlite busy for 300 ms: the next statement waits for it in the socket server's queue...
          const busy = yield* Effect.forkChild(
            Effect.promise(() => db.runExclusive(() => new Promise((resolve) => setTimeout(resolve, 300))))
          )
          yield* Effect.sleep(Duration.millis(10))
          const statement = yield* Effect.forkChild(sql`SELECT 2`)
          yield* Effect.sleep(Duration.millis(50))
          // ...and is interrupted there, as when the HTTP client of the request goes away.
          yield* Effect.forkChild(Fiber.interrupt(statement))
          yield* Fiber.join(busy)
          yield* Effect.sleep(Duration.millis(100))
          const started = Date.now()
          assert.deepStrictEqual(yield* sql<{ n: number }>`SELECT 3::int AS n`, [{ n: 3 }])
          assert.isBelow(Date.now() - started, 2_000)
        }).pipe(Effect.provide(Embedded.clientLayer(host, port)))
      })),
    { timeout: 30_000 }
  )

  effectIt.live(
    "a connection the socket server drops is replaced for the next statement",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { host, port, server } = yield* Embedded.serveEmbedded("memory://")
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`SELECT 1`
          // pglite-socket keeps its connections private: reach the client's socket from the server side.
          const handlers = (server as unknown as { handlers: Set<{ socket: { destroy(): void } | null }> }).handlers
          assert.isAbove(handlers.size, 0)
          for (const handler of handlers) handler.socket?.destroy()
          yield* Effect.sleep(Duration.millis(50))
          // The statement that meets the dead connection may fail; the ones after it are served.
          yield* Effect.exit(sql`SELECT 2`)
          assert.deepStrictEqual(yield* sql<{ n: number }>`SELECT 3::int AS n`, [{ n: 3 }])
        }).pipe(Effect.provide(Embedded.clientLayer(host, port)))
      })),
    { timeout: 30_000 }
  )
})
