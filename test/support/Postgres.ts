/**
 * Statements on a Postgres database from a test that runs taskd as child processes: a connection of the
 * test's own, outside any taskd pool.
 */
import * as Effect from "effect/Effect"
import pg from "pg"
import { pollUntil } from "./TaskFlow.ts"

/** Runs `text` on the Postgres database at `url` with a connection of its own. */
export const query = (url: string, text: string, values: ReadonlyArray<unknown> = []) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return (await client.query(text, [...values])).rows as Array<Record<string, unknown>>
    } finally {
      await client.end()
    }
  })

/** The instance id of a taskd child process, once its job runner has registered it. */
export const instanceOf = (url: string, child: { readonly pid: number }) =>
  pollUntil(
    query(url, "SELECT id FROM taskd_instances WHERE pid = $1 AND stopped_at IS NULL", [child.pid]),
    (rows) => rows.length === 1,
    () => `instance of pid ${child.pid} not registered`
  ).pipe(Effect.map((rows) => String(rows[0]!["id"])))
