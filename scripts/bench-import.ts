/**
 * Imports N generated snapshot records (default 20,000) and prints the rate and the peak RSS.
 *
 *   node scripts/bench-import.ts [N] [batch-size]
 *
 * Uses DATABASE_URL when set (creating N tasks there), otherwise a fresh in-memory PGlite.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import * as Database from "../src/Database/Database.ts"
import * as Embedded from "../src/Database/Embedded.ts"
import { importSnapshots } from "../src/Snapshots/Backfill.ts"

const n = Number(process.argv[2] ?? 20_000)
const batchSize = Number(process.argv[3] ?? 500)
const url = process.env["DATABASE_URL"]

let peakRss = process.memoryUsage().rss
const sampler = setInterval(() => peakRss = Math.max(peakRss, process.memoryUsage().rss), 20)

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const org = randomUUID(), user = randomUUID(), template = randomUUID(), version = randomUUID()
  yield* sql`INSERT INTO organizations (id, name, created_at) VALUES (${org}, ${`bench-${org.slice(0, 8)}`}, now())`
  yield* sql`INSERT INTO users (id, username, email, created_at) VALUES (${user}, ${`bench-${
    user.slice(0, 8)
  }`}, 'b@example.com', now())`
  yield* sql`INSERT INTO templates (id, organization_id, name, created_at) VALUES (${template}, ${org}, ${`bench-${
    template.slice(0, 8)
  }`}, now())`
  yield* sql`INSERT INTO template_versions (id, template_id, organization_id, has_ai_task, created_at) VALUES (${version}, ${template}, ${org}, true, now())`
  const ids = (yield* sql<{ id: string }>`
    INSERT INTO tasks (id, organization_id, owner_id, name, template_version_id, prompt, created_at)
    SELECT gen_random_uuid(), ${org}, ${user}, 'bench-' || i, ${version}, 'p', now()
    FROM generate_series(1, ${n}) AS i RETURNING id::text AS id`).map((row) => row.id)
  const records = Stream.range(0, n - 1).pipe(Stream.map((i) => ({
    task_id: ids[i]!,
    captured_at: "2025-01-01T10:00:00Z",
    messages: Array.from({ length: 10 }, (_, k) => ({
      id: k,
      content: `message ${k} of record ${i} `.repeat(20),
      role: k % 2 === 0 ? "agent" : "user",
      time: "2025-01-01T10:00:00Z"
    }))
  })))
  const rssBefore = process.memoryUsage().rss
  peakRss = rssBefore
  const started = performance.now()
  const summary = yield* importSnapshots(records, { batchSize })
  const seconds = (performance.now() - started) / 1000
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`
  console.log(JSON.stringify(summary))
  console.log(
    `${url === undefined ? "pglite" : "postgres"}: ${n} records in ${seconds.toFixed(1)} s = ` +
      `${Math.round(n / seconds)} records/s; RSS before ${mb(rssBefore)}, peak ${mb(peakRss)}`
  )
  yield* sql`DELETE FROM organizations WHERE id = ${org}`
  yield* sql`DELETE FROM users WHERE id = ${user}`
})

const database = url === undefined
  ? Database.migrated(Embedded.layer("memory://"))
  : Database.migrated(Database.postgres(Redacted.make(url), 4))

Effect.runPromise(Effect.provide(program, database)).finally(() => clearInterval(sampler))
