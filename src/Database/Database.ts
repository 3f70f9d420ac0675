/**
 * Chooses the database from the environment: `DATABASE_URL` for a real Postgres (pool size
 * `TASKD_PG_POOL`), otherwise the embedded PGlite in `TASKD_DATA_DIR`. Both are served by the Postgres
 * client of `@effect/sql-pg` (its own wire-protocol client, no `pg`).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Embedded from "./Embedded.ts"
import { migrate } from "./Migrations.ts"

export const DatabaseConfig = Config.all({
  url: Config.option(Config.Redacted("DATABASE_URL")),
  poolSize: Config.Int("TASKD_PG_POOL").pipe(Config.withDefault(10)),
  dataDir: Config.String("TASKD_DATA_DIR").pipe(Config.withDefault("./.taskd"))
})

/**
 * A real Postgres at `url`. A connection attempt gives up after 5 s, so that requests fail fast with a 503
 * while the database is unreachable instead of hanging.
 */
export const postgres = (url: Redacted.Redacted<string>, poolSize: number) =>
  PgClient.layer({ url, maxConnections: poolSize, applicationName: "taskd", connectTimeout: Duration.seconds(5) })

/** The SQL client the configuration names, not yet migrated. */
export const fromConfig = Layer.unwrap(Effect.map(DatabaseConfig, (config) =>
  Option.match(config.url, {
    onSome: (url) => postgres(url, config.poolSize),
    onNone: () => Embedded.layer(config.dataDir)
  })))

/** Runs the migrations when the layer is built, so that nothing queries an older schema. */
export const migrated = <A, E, R>(client: Layer.Layer<A | SqlClient.SqlClient, E, R>) =>
  Layer.tap(client, (context) => Effect.provide(migrate(), context))
