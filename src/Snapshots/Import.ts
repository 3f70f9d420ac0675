/**
 * Bulk import of task log snapshots: every record goes through the upload endpoint's codecs
 * (`payloadFromUpload`, `toEnvelope`) and the uploader's trimming policy, and is stored with batched
 * multi-row upserts that apply the conflict rule in SQL.
 *
 * The input is a stream and batches are committed in input order, one at a time, while the next batch is
 * read and decoded: memory depends on the batch size, not on the input size, and "the first N records are
 * committed" is a complete description of an interrupted run (see `ImportOptions.onBatch`).
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { trimForSnapshot } from "../AgentApi/Trim.ts"
import { GoString, Message, type MessagesResponse } from "../Domain/AgentApi.ts"
import { formatIssues } from "../Domain/SchemaIssues.ts"
import { AgentApiFormat } from "../Domain/Snapshot.ts"
import { Timestamp } from "../Domain/Time.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { payloadFromUpload, toEnvelope } from "./Envelope.ts"
import { type ConflictMode, SnapshotRepo, type SnapshotRow, type UpsertOutcome } from "./SnapshotRepo.ts"

/** A task id as google/uuid parses it, kept in canonical form. */
export const TaskId = Schema.String.pipe(Schema.decodeTo(
  Schema.String,
  SchemaTransformation.transformEffect({
    decode: (input, options) => {
      const id = parseUuid(input)
      return Result.isSuccess(id)
        ? Effect.succeed(id.success)
        : Effect.fail(new SchemaIssue.InvalidValue({ message: `invalid task id: ${id.failure}` }, input, options))
    },
    encode: Effect.succeed
  })
))

/**
 * One line of the import (and export) format: the task, when the snapshot was captured, and the agentapi
 * `GET /messages` payload inline. `captured_at` and `format` are optional on import.
 */
export const SnapshotRecord = Schema.Struct({
  task_id: TaskId,
  captured_at: Schema.optionalKey(Timestamp),
  format: Schema.optionalKey(Schema.Literal(AgentApiFormat)),
  $schema: Schema.optionalKey(GoString),
  messages: Schema.Array(Message)
}).annotate({ identifier: "SnapshotRecord" })
export type SnapshotRecord = typeof SnapshotRecord.Type

/** The fields of a record around its payload; the payload itself is decoded by the upload endpoint's codec. */
const RecordHeader = Schema.Struct({
  task_id: TaskId,
  captured_at: Schema.optionalKey(Schema.NullOr(Timestamp)),
  format: Schema.optionalKey(Schema.NullOr(Schema.Literal(AgentApiFormat)))
})
const decodeHeader = Schema.decodeUnknownEffect(RecordHeader, { errors: "all", reportInput: true })

/** Where a record came from, for reports: an NDJSON line, a file of a directory, or a stream position. */
export type RecordLocation =
  | { readonly line: number }
  | { readonly file: string }
  | { readonly record: number }

export const formatLocation = (location: RecordLocation): string =>
  "line" in location ? `line ${location.line}` : "file" in location ? location.file : `record ${location.record}`

/**
 * What a source yields for one record, before decoding:
 * - `Record`: a value in the import format (`{"task_id", "messages", "captured_at"?, ...}`);
 * - `Payload`: a raw agentapi `GET /messages` payload whose task and capture time are known already.
 */
export type RecordInput =
  | { readonly _tag: "Record"; readonly json: unknown }
  | { readonly _tag: "Payload"; readonly taskId: string; readonly capturedAt: Date; readonly json: unknown }

/**
 * One element of a source. `read` is run only for records that are not skipped by a resume, with
 * bounded concurrency; it fails with the reason the record cannot be read (not JSON, unreadable file...).
 */
export interface SourceRecord {
  readonly location: RecordLocation
  readonly read: Effect.Effect<RecordInput, string>
}

/** A record that was not stored: invalid, or for a task that does not exist or is deleted. */
export interface InvalidRecord {
  readonly location: RecordLocation
  readonly task_id?: string
  readonly reason: string
}

export interface ImportSummary {
  readonly read: number
  readonly inserted: number
  readonly updated: number
  readonly skipped: number
  readonly invalid: number
}

export const emptySummary: ImportSummary = { read: 0, inserted: 0, updated: 0, skipped: 0, invalid: 0 }

/** The state after a committed batch: how many source records are done, and the counts so far. */
export interface ImportProgress {
  readonly position: number
  readonly summary: ImportSummary
}

export interface ImportOptions<EB = never> {
  /** What to do when the task has a snapshot already (default `newer`). */
  readonly conflict?: ConflictMode
  /** Apply the uploader's trimming policy, 10 messages and 64 KiB (default true). */
  readonly trim?: boolean
  /** Validate and count, against the database, but roll every batch back (default false). */
  readonly dryRun?: boolean
  /** Source records per batch, one statement and transaction each (default 500). */
  readonly batchSize?: number
  /** How many records are read and decoded at once (default 8). */
  readonly concurrency?: number
  /** Resume: the progress of the interrupted run; its first `position` source records are skipped. */
  readonly resumeFrom?: ImportProgress
  /** The capture time of records without `captured_at` (default: the clock when the import starts). */
  readonly defaultCapturedAt?: Date
  /** Told about each record that is not stored, in input order, once its batch is committed. */
  readonly onInvalid?: (record: InvalidRecord) => Effect.Effect<void>
  /**
   * Called after each committed batch, in the same uninterruptible step as the commit: an interruption
   * stops the import between batches, never between a commit and its report (checkpoints go here).
   */
  readonly onBatch?: (progress: ImportProgress) => Effect.Effect<void, EB>
}

/** A record decoded for storage. */
interface DecodedRecord {
  readonly _tag: "Valid"
  readonly index: number
  readonly location: RecordLocation
  readonly row: SnapshotRow
}

interface RejectedRecord {
  readonly _tag: "Rejected"
  readonly index: number
  readonly invalid: InvalidRecord
}

type Entry = DecodedRecord | RejectedRecord

class DryRunRollback extends Data.TaggedError("DryRunRollback")<{
  readonly outcomes: ReadonlyMap<string, UpsertOutcome>
}> {}

/** The task id of a record that failed to decode, when it has a readable one, for the report. */
const taskIdOf = (input: RecordInput): string | undefined => {
  if (input._tag === "Payload") return input.taskId
  const json = input.json
  if (typeof json !== "object" || json === null || !("task_id" in json) || typeof json.task_id !== "string") {
    return undefined
  }
  return json.task_id
}

/**
 * Decodes one record as the upload endpoint decodes a body, then trims it as the uploader would.
 * Fails with the reason when the record cannot be stored.
 */
export const decodeRecord = (
  input: RecordInput,
  options: { readonly trim: boolean; readonly defaultCapturedAt: Date }
): Effect.Effect<SnapshotRow, string> =>
  Effect.gen(function*() {
    let taskId: string
    let capturedAt: Date
    if (input._tag === "Payload") {
      taskId = input.taskId
      capturedAt = input.capturedAt
    } else {
      if (typeof input.json !== "object" || input.json === null || Array.isArray(input.json)) {
        return yield* Effect.fail("a record must be a JSON object")
      }
      const header = yield* Effect.mapError(decodeHeader(input.json), (error) => formatIssues(error))
      taskId = header.task_id
      capturedAt = header.captured_at ?? options.defaultCapturedAt
    }
    const payload = yield* payloadFromUpload(input.json).pipe(
      Effect.catchTags({
        PayloadUndecodable: (error) => Effect.fail(`invalid agentapi payload: ${error.detail}`),
        PayloadMissingMessages: () => Effect.fail(`missing required "messages" field`),
        PayloadNotStorable: (error) => Effect.fail(error.detail)
      })
    )
    const trimmed: MessagesResponse = options.trim
      ? yield* Effect.fromNullishOr(trimForSnapshot(payload)).pipe(
        Effect.mapError(() => "the payload does not fit in 64 KiB even with one message truncated")
      )
      : payload
    return { taskId, capturedAt, envelope: yield* toEnvelope(trimmed) }
  })

/**
 * Keeps one row per task, the one that a record-by-record import would leave stored; the others are
 * skipped. Returns the rows to write and the number skipped.
 */
const dedupe = (records: ReadonlyArray<DecodedRecord>, mode: ConflictMode) => {
  const winners = new Map<string, DecodedRecord>()
  for (const record of records) {
    const current = winners.get(record.row.taskId)
    const replace = current === undefined ||
      (mode === "overwrite") ||
      (mode === "newer" && record.row.capturedAt.getTime() >= current.row.capturedAt.getTime())
    if (replace) winners.set(record.row.taskId, record)
  }
  return { winners: Array.from(winners.values()), superseded: records.length - winners.size }
}

/**
 * Imports snapshots from `source`. Fails only when the run itself fails (the database, the source); bad
 * records are counted as invalid, reported through `onInvalid`, and never stop the run.
 */
export const importSources = <E, R, EB = never>(
  source: Stream.Stream<SourceRecord, E, R>,
  options: ImportOptions<EB> = {}
): Effect.Effect<ImportSummary, E | EB, R | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* Effect.provide(SnapshotRepo, SnapshotRepo.layer)
    const mode = options.conflict ?? "newer"
    const trim = options.trim ?? true
    const batchSize = Math.max(1, options.batchSize ?? 500)
    const concurrency = Math.max(1, options.concurrency ?? 8)
    const defaultCapturedAt = options.defaultCapturedAt ?? new Date(yield* Clock.currentTimeMillis)
    const onInvalid = options.onInvalid ?? (() => Effect.void)
    const onBatch = options.onBatch ?? (() => Effect.void)
    let progress: ImportProgress = options.resumeFrom ?? { position: 0, summary: emptySummary }

    const decode = (record: SourceRecord, index: number): Effect.Effect<Entry> =>
      record.read.pipe(
        Effect.flatMap((input) =>
          decodeRecord(input, { trim, defaultCapturedAt }).pipe(
            Effect.mapError((reason): InvalidRecord => {
              const taskId = taskIdOf(input)
              return taskId === undefined
                ? { location: record.location, reason }
                : { location: record.location, task_id: taskId, reason }
            })
          )
        ),
        Effect.mapError((error): InvalidRecord =>
          typeof error === "string" ? { location: record.location, reason: error } : error
        ),
        Effect.match({
          onFailure: (invalid): Entry => ({ _tag: "Rejected", index, invalid }),
          onSuccess: (row): Entry => ({ _tag: "Valid", index, location: record.location, row })
        })
      )

    const write = (rows: ReadonlyArray<SnapshotRow>) =>
      options.dryRun === true
        ? sql.withTransaction(
          Effect.flatMap(repo.upsertMany(rows, mode), (outcomes) => new DryRunRollback({ outcomes }))
        ).pipe(
          Effect.catchTag("DryRunRollback", (rollback) => Effect.succeed(rollback.outcomes)),
          Effect.orDie
        )
        : repo.upsertMany(rows, mode)

    const commit = (entries: ReadonlyArray<Entry>) =>
      Effect.gen(function*() {
        const valid = entries.filter((entry): entry is DecodedRecord => entry._tag === "Valid")
        const { superseded, winners } = dedupe(valid, mode)
        const outcomes = yield* write(winners.map((winner) => winner.row))
        const counts = { inserted: 0, updated: 0, skipped: superseded, invalid: 0 }
        const reports: Array<{ readonly index: number; readonly invalid: InvalidRecord }> = []
        for (const winner of winners) {
          const outcome = outcomes.get(winner.row.taskId) ?? "missing"
          if (outcome === "missing") {
            counts.invalid++
            reports.push({
              index: winner.index,
              invalid: {
                location: winner.location,
                task_id: winner.row.taskId,
                reason: "the task does not exist or is deleted"
              }
            })
          } else {
            counts[outcome]++
          }
        }
        for (const entry of entries) {
          if (entry._tag === "Rejected") {
            counts.invalid++
            reports.push(entry)
          }
        }
        reports.sort((a, b) => a.index - b.index)
        for (const report of reports) yield* onInvalid(report.invalid)
        const summary = progress.summary
        progress = {
          position: progress.position + entries.length,
          summary: {
            read: summary.read + entries.length,
            inserted: summary.inserted + counts.inserted,
            updated: summary.updated + counts.updated,
            skipped: summary.skipped + counts.skipped,
            invalid: summary.invalid + counts.invalid
          }
        }
        yield* onBatch(progress)
      }).pipe(Effect.uninterruptible)

    const skip = progress.position
    yield* source.pipe(
      Stream.drop(skip),
      Stream.zipWithIndex,
      Stream.mapEffect(([record, index]) => decode(record, index), { concurrency }),
      Stream.grouped(batchSize),
      // The next batch is read and decoded while this one is written.
      Stream.buffer({ capacity: 1 }),
      Stream.runForEach(commit)
    )
    return progress.summary
  })

/**
 * Imports records in the import format (`{"task_id", "messages", "captured_at"?, "format"?, "$schema"?}`,
 * as values) from any stream: the library entry point for custom backfills. Reports name records by their
 * 1-based position in the stream.
 */
export const importSnapshots = <E, R, EB = never>(
  records: Stream.Stream<unknown, E, R>,
  options: ImportOptions<EB> = {}
): Effect.Effect<ImportSummary, E | EB, R | SqlClient.SqlClient> =>
  importSources(
    Stream.map(Stream.zipWithIndex(records), ([json, index]): SourceRecord => ({
      location: { record: index + 1 },
      read: Effect.succeed({ _tag: "Record", json })
    })),
    options
  )
