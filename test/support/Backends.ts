/**
 * The databases every suite runs on: an embedded PGlite always, and the Postgres server named by
 * TEST_DATABASE_URL when it is set, in a database of its own per test file.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as Database from "../../src/Database/Database.ts"
import * as Embedded from "../../src/Database/Embedded.ts"

export interface Backend {
  readonly name: "pglite" | "postgres"
  /** A migrated, empty database for one test file; every build of the layer is a new database. */
  readonly layer: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown>
  /** A new database that no migration has touched yet. */
  readonly unmigrated: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown>
}

const admin = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })

/** Creates a database on the server for the life of the scope, then drops it; returns its URL. */
export const freshPostgresUrl = (url: string) =>
  Effect.gen(function*() {
    const name = `taskd_test_${randomBytes(6).toString("hex")}`
    const runAdmin = (statement: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
        Effect.provide(admin(url)),
        Effect.scoped
      )
    yield* Effect.acquireRelease(
      runAdmin(`CREATE DATABASE ${name}`),
      () => Effect.orDie(runAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
    )
    const target = new URL(url)
    target.pathname = `/${name}`
    return target.toString()
  })

/** A database of its own on the server for the life of the layer. */
const freshPostgres = (url: string): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown> =>
  Layer.unwrapScoped(Effect.map(freshPostgresUrl(url), (fresh) => Database.postgres(Redacted.make(fresh), 4)))

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
