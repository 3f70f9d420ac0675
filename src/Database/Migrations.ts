/**
 * Applies the numbered plain-SQL files in sql/, the one definition of the schema.
 *
 * All of it runs in one transaction behind an advisory lock, so instances that start together on one
 * database apply each file exactly once, and a failed file leaves nothing half-applied.
 *
 * The Postgres client of `@effect/sql-pg` 4 speaks only the extended protocol, which takes one statement
 * at a time, so a file is split into its statements (see `splitStatements`) and they run in order.
 * (`effect/sql/Migrator` is not used: it records only the highest id applied, in a table of its own, and
 * loads migrations as Effects; taskd's table `taskd_migrations` and its rule, apply every file not yet
 * recorded, stay as they were.)
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
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

const dollarTag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/

/**
 * Splits a script into its statements at the semicolons that end them, as psql does: not inside a
 * comment (`--`, nested `/* *\/`), a quoted string (`'...'`, `E'...'`), a quoted identifier (`"..."`)
 * or a dollar-quoted body (`$$...$$`, `$tag$...$tag$`). Statements that are only comments or blank are
 * dropped.
 */
export const splitStatements = (script: string): ReadonlyArray<string> => {
  const statements: Array<string> = []
  let start = 0
  let meaningful = false
  let i = 0
  const n = script.length
  const push = (end: number) => {
    if (meaningful) statements.push(script.slice(start, end).trim())
    start = end + 1
    meaningful = false
  }
  while (i < n) {
    const c = script[i]!
    const next = script[i + 1]
    if (c === "-" && next === "-") {
      const end = script.indexOf("\n", i)
      i = end === -1 ? n : end + 1
    } else if (c === "/" && next === "*") {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (script[i] === "/" && script[i + 1] === "*") {
          depth++
          i += 2
        } else if (script[i] === "*" && script[i + 1] === "/") {
          depth--
          i += 2
        } else {
          i++
        }
      }
    } else if (c === "'" || c === "\"") {
      // E'...' strings allow backslash escapes; elsewhere a doubled quote is the only escape.
      const backslash = c === "'" && i > 0 && (script[i - 1] === "E" || script[i - 1] === "e")
      meaningful = true
      i++
      while (i < n) {
        if (backslash && script[i] === "\\") {
          i += 2
        } else if (script[i] === c) {
          if (script[i + 1] === c) i += 2
          else break
        } else {
          i++
        }
      }
      i++
    } else if (c === "$" && dollarTag.test(script.slice(i, i + 64))) {
      const tag = dollarTag.exec(script.slice(i, i + 64))![0]
      const end = script.indexOf(tag, i + tag.length)
      meaningful = true
      i = end === -1 ? n : end + tag.length
    } else if (c === ";") {
      push(i)
      i++
    } else {
      if (c.trim() !== "") meaningful = true
      i++
    }
  }
  if (meaningful) statements.push(script.slice(start).trim())
  return statements
}

/** An arbitrary constant naming taskd's migration lock among the database's advisory locks. */
const migrationLock = 7_358_214_301

/** Applies the migrations not applied yet; returns the ones it applied. */
export const migrate = (migrations: ReadonlyArray<Migration> = loadMigrations()) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${migrationLock})`.unprepared
      yield* sql`CREATE TABLE IF NOT EXISTS taskd_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`.unprepared
      const rows = yield* sql<{ id: number }>`SELECT id FROM taskd_migrations`.unprepared
      const applied = new Set(rows.map((row) => row.id))
      const pending = migrations.filter((migration) => !applied.has(migration.id))
      for (const migration of pending) {
        // Unprepared: each statement runs once, so it should not take a place in the connection's cache.
        for (const statement of splitStatements(migration.sql)) yield* sql.unsafe(statement).unprepared
        yield* sql`INSERT INTO taskd_migrations (id, name) VALUES (${migration.id}, ${migration.name})`.unprepared
      }
      return pending
    }))
  }).pipe(Effect.withSpan("taskd.migrate"))
