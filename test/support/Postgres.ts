/**
 * Statements on a Postgres database from a test that runs taskd as child processes: a connection of the
 * test's own, outside any taskd pool.
 */
import * as Effect from "effect/Effect"
import pg from "pg"

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
