/**
 * Applies the numbered plain-SQL files in sql/, the one definition of the schema.
 *
 * All of it runs in one transaction behind an advisory lock, so instances that start together on one
 * database apply each file exactly once, and a failed file leaves nothing half-applied.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

export interface Migration {
  readonly id: number
  readonly name: string
  readonly sql: string
}

const migrationFile = /^(\d+)_(.+)\.sql$/

/** The folder of migrations shipped with taskd. */
// Two levels below the root both here (src/Database/) and in the bundle `npm run build` writes (dist/src/).
export const migrationsDir = fileURLToPath(new URL("../../sql/", import.meta.url))

/** Reads the migrations of a folder, ordered by number. */
export const loadMigrations = (dir: string = migrationsDir): ReadonlyArray<Migration> =>
  readdirSync(dir)
    .flatMap((file) => {
      const match = migrationFile.exec(file)
      return match === null
        ? []
        : [{ id: Number(match[1]), name: match[2]!, sql: readFileSync(`${dir}/${file}`, "utf8") }]
    })
    .sort((a, b) => a.id - b.id)

/** An arbitrary constant naming taskd's migration lock among the database's advisory locks. */
const migrationLock = 7_358_214_301

/** Applies the migrations not applied yet; returns the ones it applied. */
export const migrate = (migrations: ReadonlyArray<Migration> = loadMigrations()) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${migrationLock})`
      yield* sql`CREATE TABLE IF NOT EXISTS taskd_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`
      const rows = yield* sql<{ id: number }>`SELECT id FROM taskd_migrations`
      const applied = new Set(rows.map((row) => row.id))
      const pending = migrations.filter((migration) => !applied.has(migration.id))
      for (const migration of pending) {
        yield* sql.unsafe(migration.sql)
        yield* sql`INSERT INTO taskd_migrations (id, name) VALUES (${migration.id}, ${migration.name})`
      }
      return pending
    }))
  }).pipe(Effect.withSpan("taskd.migrate"))
