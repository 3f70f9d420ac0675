/**
 * The databases every suite runs on: an embedded PGlite always, and the Postgres server named by
 * TEST_DATABASE_URL when it is set, in a database of its own per build of the layer (so per test file,
 * and per `layer(...)` block).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { randomBytes } from "node:crypto"
import * as Database from "../../src/Database/Database.ts"
import * as Embedded from "../../src/Database/Embedded.ts"

export interface Backend {
  readonly name: "pglite" | "postgres"
  /** A migrated, empty database; every build of the layer is a new database. */
  readonly layer: Layer.Layer<SqlClient.SqlClient, unknown>
  /** A new database that no migration has touched yet. */
  readonly unmigrated: Layer.Layer<SqlClient.SqlClient, unknown>
}

/** Runs one statement on the server's maintenance database, on a connection of its own. */
const runAdmin = (url: string, statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }), { local: true }),
    Effect.orDie
  )

/**
 * The one "fresh database on the server" helper: creates a database for the life of the scope, then drops
 * it (forcing out any connection still open); returns its URL.
 */
export const freshPostgresUrl = (url: string) =>
  Effect.gen(function*() {
    const name = `taskd_test_${randomBytes(6).toString("hex")}`
    yield* Effect.acquireRelease(
      runAdmin(url, `CREATE DATABASE ${name}`),
      () => runAdmin(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    )
    const target = new URL(url)
    target.pathname = `/${name}`
    return target.toString()
  })

/** A database of its own on the server for the life of the layer. */
const freshPostgres = (url: string): Layer.Layer<SqlClient.SqlClient, unknown> =>
  Layer.unwrap(Effect.map(freshPostgresUrl(url), (fresh) => Database.postgres(Redacted.make(fresh), 4)))

export const pglite: Backend = {
  name: "pglite",
  layer: Database.migrated(Embedded.layer("memory://")),
  unmigrated: Embedded.layer("memory://")
}

export const postgres = (url: string): Backend => ({
  name: "postgres",
  layer: Database.migrated(freshPostgres(url)),
  unmigrated: freshPostgres(url)
})

/** The Postgres server the suites also run on, when set. */
export const testDatabaseUrl = process.env["TEST_DATABASE_URL"]

/** PGlite, plus Postgres when TEST_DATABASE_URL is set. */
export const all: ReadonlyArray<Backend> = testDatabaseUrl ? [pglite, postgres(testDatabaseUrl)] : [pglite]
