/**
 * Export of stored snapshots in the import format, one record per live task, in task id order. Pages
 * are read by keyset (task id), so memory does not grow with the number of snapshots and no transaction
 * is held open.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { MessagesResponse } from "../Domain/AgentApi.ts"
import { AgentApiFormat, StoredEnvelope } from "../Domain/Snapshot.ts"
import { formatIssues } from "../Http/Body.ts"
import { SnapshotRecord } from "./Import.ts"
import { type ExportedSnapshot, type ExportFilter, SnapshotRepo } from "./SnapshotRepo.ts"

export type { ExportFilter } from "./SnapshotRepo.ts"

/** A stored snapshot that cannot be written in the import format (not agentapi, or malformed data). */
export interface UnexportableSnapshot {
  readonly task_id: string
  readonly reason: string
}

const decodeStored = Schema.decodeUnknownEither(StoredEnvelope)
const decodeData = Schema.decodeUnknownEither(MessagesResponse, { errors: "all" })
const encodeRecord = Schema.encodeSync(SnapshotRecord)

/** One stored row as an import record (its JSON-ready encoded form), or why it cannot be. */
export const toRecord = (row: ExportedSnapshot): Either.Either<typeof SnapshotRecord.Encoded, UnexportableSnapshot> => {
  const envelope = decodeStored(row.log_snapshot)
  if (Either.isLeft(envelope)) return Either.left({ task_id: row.task_id, reason: "the stored envelope is malformed" })
  if (envelope.right.format !== AgentApiFormat) {
    return Either.left({
      task_id: row.task_id,
      reason: `unsupported snapshot format ${JSON.stringify(envelope.right.format)}`
    })
  }
  const data = decodeData(envelope.right.data)
  if (Either.isLeft(data)) {
    return Either.left({ task_id: row.task_id, reason: `malformed snapshot data: ${formatIssues(data.left)}` })
  }
  return Either.right(encodeRecord({
    task_id: row.task_id,
    captured_at: row.log_snapshot_created_at,
    format: AgentApiFormat,
    ...data.right
  }))
}

/**
 * The snapshots that match `filter`, as import records (Right) or as the reason a stored snapshot cannot
 * be exported (Left).
 */
export const exportSnapshots = (
  filter: ExportFilter = {},
  options: { readonly pageSize?: number } = {}
): Stream.Stream<
  Either.Either<typeof SnapshotRecord.Encoded, UnexportableSnapshot>,
  SqlError,
  SqlClient.SqlClient
> => {
  const pageSize = Math.max(1, options.pageSize ?? 500)
  return Stream.unwrap(
    Effect.map(
      Effect.provide(SnapshotRepo, SnapshotRepo.Default),
      (repo) =>
        Stream.paginateChunkEffect(
          Option.none<string>(),
          (after) =>
            Effect.map(repo.exportPage(filter, Option.getOrUndefined(after), pageSize), (rows) =>
              [
                Chunk.fromIterable(rows.map(toRecord)),
                rows.length < pageSize ? Option.none() : Option.some(Option.some(rows[rows.length - 1]!.task_id))
              ] as const)
        )
    )
  )
}
