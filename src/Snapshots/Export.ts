/**
 * Export of stored snapshots in the import format, one record per live task, in task id order. Pages
 * are read by keyset (task id), so memory does not grow with the number of snapshots and no transaction
 * is held open.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { MessagesResponse } from "../Domain/AgentApi.ts"
import { formatIssues } from "../Domain/SchemaIssues.ts"
import { AgentApiFormat, StoredEnvelope } from "../Domain/Snapshot.ts"
import { SnapshotRecord } from "./Import.ts"
import { type ExportedSnapshot, type ExportFilter, SnapshotRepo } from "./SnapshotRepo.ts"

export type { ExportFilter } from "./SnapshotRepo.ts"

/** A stored snapshot that cannot be written in the import format (not agentapi, or malformed data). */
export interface UnexportableSnapshot {
  readonly task_id: string
  readonly reason: string
}

const decodeStored = Schema.decodeUnknownResult(StoredEnvelope)
const decodeData = Schema.decodeUnknownResult(MessagesResponse, { errors: "all", reportInput: true })
const encodeRecord = Schema.encodeSync(SnapshotRecord)

/** One stored row as an import record (its JSON-ready encoded form), or why it cannot be. */
export const toRecord = (row: ExportedSnapshot): Result.Result<typeof SnapshotRecord.Encoded, UnexportableSnapshot> => {
  const envelope = decodeStored(row.log_snapshot)
  if (Result.isFailure(envelope)) {
    return Result.fail({ task_id: row.task_id, reason: "the stored envelope is malformed" })
  }
  if (envelope.success.format !== AgentApiFormat) {
    return Result.fail({
      task_id: row.task_id,
      reason: `unsupported snapshot format ${JSON.stringify(envelope.success.format)}`
    })
  }
  const data = decodeData(envelope.success.data)
  if (Result.isFailure(data)) {
    return Result.fail({ task_id: row.task_id, reason: `malformed snapshot data: ${formatIssues(data.failure)}` })
  }
  return Result.succeed(encodeRecord({
    task_id: row.task_id,
    captured_at: row.log_snapshot_created_at,
    format: AgentApiFormat,
    ...data.success
  }))
}

/**
 * The snapshots that match `filter`, as import records (Success) or as the reason a stored snapshot cannot
 * be exported (Failure).
 */
export const exportSnapshots = (
  filter: ExportFilter = {},
  options: { readonly pageSize?: number } = {}
): Stream.Stream<
  Result.Result<typeof SnapshotRecord.Encoded, UnexportableSnapshot>,
  never,
  SqlClient.SqlClient
> => {
  const pageSize = Math.max(1, options.pageSize ?? 500)
  return Stream.unwrap(
    Effect.map(
      Effect.provide(SnapshotRepo, SnapshotRepo.layer),
      (repo) =>
        Stream.paginate(
          Option.none<string>(),
          (after) =>
            Effect.map(repo.exportPage(filter, Option.getOrUndefined(after), pageSize), (rows) =>
              [
                rows.map(toRecord),
                rows.length < pageSize ? Option.none() : Option.some(Option.some(rows[rows.length - 1]!.task_id))
              ] as const)
        )
    )
  )
}
