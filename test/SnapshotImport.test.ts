/**
 * `importSnapshots` / `exportSnapshots` (issue #6) on each backend: idempotency, conflict modes, invalid
 * records, dry run, resume, round trip, trimming and a 20,000-record import.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import {
  exportSnapshots,
  type ImportOptions,
  type ImportProgress,
  importSnapshots,
  importSources,
  type InvalidRecord,
  ndjsonRecords,
  truncationPrefix
} from "../src/Snapshots/Backfill.ts"
import * as Backends from "./support/Backends.ts"
import { createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import * as TestServer from "./support/TestServer.ts"

const msg = (id: number, content = `message ${id}`) => ({
  id,
  content,
  role: id % 2 === 0 ? "agent" : "user",
  time: "2025-01-01T10:00:00Z"
})

const record = (taskId: string, capturedAt: string, ids: ReadonlyArray<number>, extra: object = {}) => ({
  task_id: taskId,
  captured_at: capturedAt,
  messages: ids.map((id) => msg(id)),
  ...extra
})

/** `n` live tasks, with their owner. */
const tasks = (n: number) =>
  Effect.gen(function*() {
    const owner = yield* createUser()
    const template = yield* createTemplate()
    const ids: Array<string> = []
    for (let i = 0; i < n; i++) ids.push((yield* createTaskWorkspace(owner, template)).taskId)
    return { owner, ids }
  })

interface Row {
  readonly task_id: string
  readonly log_snapshot: unknown
  readonly log_snapshot_created_at: string
}

/** The stored snapshots of `ids`, comparable with deepStrictEqual. */
const rowsOf = (ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ task_id: string; log_snapshot: unknown; log_snapshot_created_at: Date }>`
      SELECT task_id::text AS task_id, log_snapshot, log_snapshot_created_at FROM task_snapshots
      WHERE task_id::text IN ${sql.in(ids)} ORDER BY task_id`
    return rows.map((row): Row => ({ ...row, log_snapshot_created_at: row.log_snapshot_created_at.toISOString() }))
  }).pipe(Effect.orDie)

const clear = (ids: ReadonlyArray<string>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM task_snapshots WHERE task_id::text IN ${sql.in(ids)}`)
    .pipe(Effect.orDie)

const run = (records: ReadonlyArray<unknown>, options: ImportOptions = {}) =>
  importSnapshots(Stream.fromIterable(records), options).pipe(Effect.orDie)

for (const backend of Backends.all) {
  describe(`snapshot import [${backend.name}]`, () => {
    layer(TestServer.layer(backend), { timeout: 120_000 })((it) => {
      it.effect("stores records in the upload envelope; importing twice leaves the database as importing once", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(3)
          const records = [
            record(ids[0]!, "2025-01-01T10:05:00Z", [1, 2], { $schema: "https://example.com/s.json", extra: 1 }),
            record(ids[1]!, "2025-01-01T10:06:00Z", [3]),
            record(ids[2]!, "2025-01-01T10:07:00.123Z", [])
          ]
          const first = yield* run(records, { batchSize: 2 })
          assert.deepStrictEqual(first, { read: 3, inserted: 3, updated: 0, skipped: 0, invalid: 0 })
          const once = yield* rowsOf(ids)
          assert.deepStrictEqual(once.find((row) => row.task_id === ids[0])?.log_snapshot, {
            format: "agentapi",
            data: { $schema: "https://example.com/s.json", messages: [msg(1), msg(2)] }
          })
          assert.strictEqual(
            once.find((row) => row.task_id === ids[2])?.log_snapshot_created_at,
            "2025-01-01T10:07:00.123Z"
          )

          const second = yield* run(records, { batchSize: 2 })
          assert.deepStrictEqual(second, { read: 3, inserted: 0, updated: 0, skipped: 3, invalid: 0 })
          assert.deepStrictEqual(yield* rowsOf(ids), once)
        }))

      it.effect("newer (default): older records are skipped, newer ones and same-time changes replace", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(3)
          yield* run(ids.map((id) => record(id, "2025-01-01T10:00:00Z", [1])))
          const summary = yield* run([
            record(ids[0]!, "2025-01-01T09:00:00Z", [9]), // older: skipped
            record(ids[1]!, "2025-01-01T11:00:00Z", [2]), // newer: updated
            record(ids[2]!, "2025-01-01T10:00:00Z", [3]) // same time, other content: updated
          ])
          assert.deepStrictEqual(summary, { read: 3, inserted: 0, updated: 2, skipped: 1, invalid: 0 })
          const rows = yield* rowsOf(ids)
          const messagesOf = (id: string) => (rows.find((row) => row.task_id === id)?.log_snapshot as any).data.messages
          assert.deepStrictEqual(messagesOf(ids[0]!), [msg(1)])
          assert.deepStrictEqual(messagesOf(ids[1]!), [msg(2)])
          assert.deepStrictEqual(messagesOf(ids[2]!), [msg(3)])
          assert.strictEqual(
            rows.find((row) => row.task_id === ids[1])?.log_snapshot_created_at,
            "2025-01-01T11:00:00.000Z"
          )
        }))

      it.effect("only-missing never overwrites; overwrite always does, also with older records", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(2)
          yield* run([record(ids[0]!, "2025-01-01T10:00:00Z", [1])])
          const missing = yield* run([
            record(ids[0]!, "2025-01-01T12:00:00Z", [2]),
            record(ids[1]!, "2025-01-01T12:00:00Z", [2])
          ], { conflict: "only-missing" })
          assert.deepStrictEqual(missing, { read: 2, inserted: 1, updated: 0, skipped: 1, invalid: 0 })
          let rows = yield* rowsOf(ids)
          assert.deepStrictEqual((rows[ids[0]! < ids[1]! ? 0 : 1]!.log_snapshot as any).data.messages, [msg(1)])

          const overwrite = yield* run([record(ids[0]!, "2024-01-01T00:00:00Z", [5])], { conflict: "overwrite" })
          assert.deepStrictEqual(overwrite, { read: 1, inserted: 0, updated: 1, skipped: 0, invalid: 0 })
          rows = yield* rowsOf([ids[0]!])
          assert.deepStrictEqual((rows[0]!.log_snapshot as any).data.messages, [msg(5)])
          assert.strictEqual(rows[0]!.log_snapshot_created_at, "2024-01-01T00:00:00.000Z")
        }))

      it.effect("duplicates of a task in one batch end as a record-by-record import would leave them", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(1)
          const id = ids[0]!
          const input = [
            record(id, "2025-01-01T10:00:00Z", [1]),
            record(id, "2025-01-01T12:00:00Z", [2]),
            record(id, "2025-01-01T11:00:00Z", [3])
          ]
          const messages = (rows: ReadonlyArray<Row>) => (rows[0]!.log_snapshot as any).data.messages
          for (
            const [conflict, expected] of [["newer", [msg(2)]], ["only-missing", [msg(1)]], ["overwrite", [
              msg(3)
            ]]] as const
          ) {
            yield* clear(ids)
            const summary = yield* run(input, { conflict })
            assert.deepStrictEqual(summary, { read: 3, inserted: 1, updated: 0, skipped: 2, invalid: 0 }, conflict)
            assert.deepStrictEqual(messages(yield* rowsOf(ids)), expected, conflict)
          }
        }))

      it.effect("invalid lines, unknown and deleted tasks are reported with their line and never stop the run", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(3)
          const sql = yield* SqlClient.SqlClient
          yield* sql`UPDATE tasks SET deleted_at = now() WHERE id = ${ids[2]!}`
          const unknown = randomUUID()
          const lines = [
            JSON.stringify(record(ids[0]!, "2025-01-01T10:00:00Z", [1])),
            "{not json",
            "",
            JSON.stringify({ task_id: ids[1]!, captured_at: "yesterday", messages: [] }),
            JSON.stringify({ task_id: ids[1]!, messages: [{ id: 1.5 }] }),
            JSON.stringify({ task_id: ids[1]! }),
            JSON.stringify(record(unknown, "2025-01-01T10:00:00Z", [1])),
            JSON.stringify(record(ids[2]!, "2025-01-01T10:00:00Z", [1])),
            JSON.stringify({ task_id: ids[1]!, format: "other", messages: [] }),
            "[1,2]",
            JSON.stringify(record(ids[1]!, "2025-01-01T10:00:00Z", [2]))
          ]
          const reports: Array<InvalidRecord> = []
          const summary = yield* importSources(
            ndjsonRecords(Stream.make(new TextEncoder().encode(lines.join("\n")))),
            { batchSize: 4, onInvalid: (report) => Effect.sync(() => reports.push(report)) }
          ).pipe(Effect.orDie)
          assert.deepStrictEqual(summary, { read: 10, inserted: 2, updated: 0, skipped: 0, invalid: 8 })
          assert.deepStrictEqual(reports.map((report) => (report.location as { line: number }).line), [
            2,
            4,
            5,
            6,
            7,
            8,
            9,
            10
          ])
          assert.match(reports[0]!.reason, /^invalid JSON/)
          assert.match(reports[1]!.reason, /captured_at/)
          assert.match(reports[2]!.reason, /messages\.0\.id/)
          assert.strictEqual(reports[3]!.reason, `missing required "messages" field`)
          assert.deepStrictEqual(reports[4], {
            location: { line: 7 },
            task_id: unknown,
            reason: "the task does not exist or is deleted"
          })
          assert.strictEqual(reports[5]!.task_id, ids[2])
          assert.match(reports[6]!.reason, /format/)
          assert.strictEqual(reports[7]!.reason, "a record must be a JSON object")
          const rows = yield* rowsOf([...ids, unknown])
          assert.deepStrictEqual(rows.map((row) => row.task_id).sort(), [ids[0]!, ids[1]!].sort())
        }))

      it.effect("dry run counts against the database and writes nothing", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(2)
          yield* run([record(ids[0]!, "2025-01-01T10:00:00Z", [1])])
          const before = yield* rowsOf(ids)
          const summary = yield* run([
            record(ids[0]!, "2025-01-01T11:00:00Z", [2]),
            record(ids[1]!, "2025-01-01T11:00:00Z", [2]),
            record(randomUUID(), "2025-01-01T11:00:00Z", [2])
          ], { dryRun: true })
          assert.deepStrictEqual(summary, { read: 3, inserted: 1, updated: 1, skipped: 0, invalid: 1 })
          assert.deepStrictEqual(yield* rowsOf(ids), before)
        }))

      it.effect("trims as the uploader does unless told not to", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(2)
          const many = Array.from({ length: 15 }, (_, i) => i)
          const big = { task_id: ids[1]!, captured_at: "2025-01-01T10:00:00Z", messages: [msg(1, "x".repeat(100_000))] }
          yield* run([record(ids[0]!, "2025-01-01T10:00:00Z", many), big])
          let rows = yield* rowsOf([ids[0]!])
          assert.deepStrictEqual((rows[0]!.log_snapshot as any).data.messages.map((m: any) => m.id), many.slice(5))
          const [bigRow] = yield* rowsOf([ids[1]!])
          const content: string = (bigRow!.log_snapshot as any).data.messages[0].content
          assert.strictEqual(content, truncationPrefix + "x".repeat(57_344))

          yield* run([record(ids[0]!, "2025-01-01T10:00:00Z", many)], { trim: false, conflict: "overwrite" })
          rows = yield* rowsOf([ids[0]!])
          assert.strictEqual((rows[0]!.log_snapshot as any).data.messages.length, 15)
        }))

      it.effect("a resumed run after an interruption ends as an uninterrupted run", () =>
        Effect.gen(function*() {
          const { ids } = yield* tasks(12)
          // Several records per task, out of order, some undated: each batch boundary matters.
          const records = Array.from({ length: 120 }, (_, i) => {
            const id = ids[(i * 7) % ids.length]!
            return i % 5 === 0
              ? { task_id: id, messages: [msg(i)] }
              : record(id, new Date(Date.UTC(2025, 0, 1, 10, (i * 13) % 60)).toISOString(), [i])
          })
          const defaultCapturedAt = new Date("2025-01-01T10:30:00Z")
          const options = { batchSize: 10, defaultCapturedAt }

          const uninterrupted = yield* run(records, options)
          const expected = yield* rowsOf(ids)
          yield* clear(ids)

          let saved: ImportProgress | undefined
          const stop = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(run(records, {
            ...options,
            onBatch: (progress) =>
              Effect.sync(() => saved = progress).pipe(
                Effect.andThen(progress.position >= 40 ? Deferred.succeed(stop, undefined) : Effect.void)
              )
          }))
          yield* Deferred.await(stop)
          yield* Fiber.interrupt(fiber)
          assert.isDefined(saved)
          assert.isTrue(saved!.position >= 40 && saved!.position < records.length, `stopped at ${saved!.position}`)
          assert.notDeepEqual(yield* rowsOf(ids), expected)

          const resumed = yield* run(records, { ...options, resumeFrom: saved! })
          assert.deepStrictEqual(yield* rowsOf(ids), expected)
          assert.deepStrictEqual(resumed, uninterrupted)
        }))

      it.effect("export then import into an empty table gives identical snapshots", () =>
        Effect.gen(function*() {
          const { ids, owner } = yield* tasks(4)
          yield* run([
            record(ids[0]!, "2025-01-01T10:00:00.5Z", [1, 2], { $schema: "https://example.com/s.json" }),
            record(ids[1]!, "2025-02-01T10:00:00Z", []),
            {
              task_id: ids[2]!,
              captured_at: "2025-03-01T10:00:00Z",
              messages: [{ content: "odd time", time: "2025-09-25T12:42:48.5+02:00" }]
            },
            record(ids[3]!, "2025-03-01T10:00:00Z", Array.from({ length: 12 }, (_, i) => i))
          ], { trim: false })
          const before = yield* rowsOf(ids)
          const exported = yield* exportSnapshots({ owner: owner.username }, { pageSize: 3 }).pipe(
            Stream.runCollect,
            Effect.orDie
          )
          const records = Array.from(exported).map((item) => Result.getOrThrow(item))
          assert.deepStrictEqual(records.map((r) => r.task_id), [...ids].sort())
          assert.deepStrictEqual(Object.keys(records.find((r) => r.task_id === ids[0])!), [
            "task_id",
            "captured_at",
            "format",
            "$schema",
            "messages"
          ])
          yield* clear(ids)
          // Through JSON text, as the CLI writes and reads it.
          const summary = yield* run(records.map((r) => JSON.parse(JSON.stringify(r))), { trim: false })
          assert.deepStrictEqual(summary, { read: 4, inserted: 4, updated: 0, skipped: 0, invalid: 0 })
          assert.deepStrictEqual(yield* rowsOf(ids), before)

          const filtered = yield* exportSnapshots({ taskIds: [ids[1]!], since: new Date("2025-01-15T00:00:00Z") }).pipe(
            Stream.runCollect,
            Effect.orDie
          )
          assert.deepStrictEqual(Array.from(filtered).map((item) => Result.getOrThrow(item).task_id), [ids[1]])
        }))

      it.effect("int64 message ids: NDJSON in, stored and exported with every digit, imported back the same", () =>
        Effect.gen(function*() {
          const { ids, owner } = yield* tasks(1)
          const messageIds = [
            "9007199254740993",
            "-9223372036854775808",
            "9223372036854775807",
            "-9007199254740993",
            "7"
          ]
          const idsIn = (text: string) => Array.from(text.matchAll(/"id": ?(-?\d+)/g), (match) => match[1])
          const line = `{"task_id":"${ids[0]}","captured_at":"2025-01-01T10:00:00Z","messages":[${
            messageIds.map((id) => `{"id":${id},"content":"c","role":"agent","time":"2025-01-01T10:00:00Z"}`).join(",")
          }]}`
          const outside = `{"task_id":"${ids[0]}","messages":[{"id":9223372036854775808}]}`
          const importText = (text: string, options: ImportOptions = {}) => {
            const reports: Array<InvalidRecord> = []
            return importSources(ndjsonRecords(Stream.make(new TextEncoder().encode(text))), {
              ...options,
              onInvalid: (report) => Effect.sync(() => reports.push(report))
            }).pipe(Effect.orDie, Effect.map((summary) => ({ summary, reports })))
          }
          const imported = yield* importText(`${line}\n${outside}\n`)
          assert.deepStrictEqual(imported.summary, { read: 2, inserted: 1, updated: 0, skipped: 0, invalid: 1 })
          assert.strictEqual(
            imported.reports[0]!.reason,
            "invalid agentapi payload: messages.0.id: Expected an int64, between -9223372036854775808 and " +
              "9223372036854775807, actual 9223372036854775808"
          )
          const storedText = Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql<{ text: string }>`SELECT log_snapshot::text AS text FROM task_snapshots WHERE task_id = ${ids[0]!}`
          ).pipe(Effect.orDie, Effect.map((rows) => rows[0]!.text))
          assert.deepStrictEqual(idsIn(yield* storedText), messageIds)

          // Export writes the records as the CLI does: JSON.stringify of each, every id a number with its digits.
          const exported = yield* exportSnapshots({ owner: owner.username }).pipe(Stream.runCollect, Effect.orDie)
          const lines = Array.from(exported, (item) => JSON.stringify(Result.getOrThrow(item)))
          assert.strictEqual(lines.length, 1)
          assert.deepStrictEqual(idsIn(lines[0]!), messageIds)
          assert.include(
            lines[0]!,
            `{"content":"c","id":9223372036854775807,"role":"agent","time":"2025-01-01T10:00:00Z"}`
          )

          yield* clear(ids)
          const back = yield* importText(lines.join("\n"))
          assert.deepStrictEqual(back.summary, { read: 1, inserted: 1, updated: 0, skipped: 0, invalid: 0 })
          assert.deepStrictEqual(idsIn(yield* storedText), messageIds)
        }))

      it.effect("20,000 records from a stream, in batches, all stored", () =>
        Effect.gen(function*() {
          const { owner } = yield* tasks(0)
          const template = yield* createTemplate()
          const sql = yield* SqlClient.SqlClient
          const n = 20_000
          const created = yield* sql<{ id: string }>`
            INSERT INTO tasks (id, organization_id, owner_id, name, template_version_id, prompt, created_at)
            SELECT gen_random_uuid(), ${owner.organizationId}, ${owner.id}, 'bulk-' || i, ${template.versionId}, 'p', now()
            FROM generate_series(1, ${n}) AS i
            RETURNING id::text AS id`.pipe(Effect.orDie)
          const taskIds = created.map((row) => row.id)
          const records = Stream.range(0, n - 1).pipe(
            Stream.map((i) => record(taskIds[i]!, "2025-01-01T10:00:00Z", [i, i + 1]))
          )
          const summary = yield* importSnapshots(records).pipe(Effect.orDie)
          assert.deepStrictEqual(summary, { read: n, inserted: n, updated: 0, skipped: 0, invalid: 0 })
          const [{ count }] = yield* sql<{ count: number }>`
            SELECT count(*)::int AS count FROM task_snapshots s JOIN tasks t ON t.id = s.task_id
            WHERE t.name LIKE 'bulk-%' AND s.log_snapshot -> 'data' -> 'messages' -> 1 ->> 'content' IS NOT NULL`
            .pipe(Effect.orDie)
          assert.strictEqual(count, n)
        }), { timeout: 240_000 })
    })
  })
}
