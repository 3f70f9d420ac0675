/**
 * One log snapshot per task, replaced by each upload.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { SnapshotEnvelope } from "../Domain/Snapshot.ts"

/** The envelope as it is stored (the encoded form). */
type StoredEnvelope = typeof SnapshotEnvelope.Encoded

export interface StoredSnapshot {
  readonly log_snapshot: unknown
  readonly log_snapshot_created_at: Date
}

export class SnapshotRepo extends Effect.Service<SnapshotRepo>()("taskd/SnapshotRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * Stores the snapshot of a live task; false when the task is gone (deleted in the meantime), so an
     * upload racing a delete leaves no orphan.
     */
    const upsert = (taskId: string, envelope: StoredEnvelope, capturedAt: Date) =>
      sql<{ task_id: string }>`
        INSERT INTO task_snapshots (task_id, log_snapshot, log_snapshot_created_at)
        SELECT id, ${
        JSON.stringify(envelope)
      }::jsonb, ${capturedAt} FROM tasks WHERE id = ${taskId} AND deleted_at IS NULL
        ON CONFLICT (task_id) DO UPDATE
          SET log_snapshot = EXCLUDED.log_snapshot, log_snapshot_created_at = EXCLUDED.log_snapshot_created_at
        RETURNING task_id`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.orDie
      )

    const find = (taskId: string) =>
      sql<StoredSnapshot>`SELECT log_snapshot, log_snapshot_created_at FROM task_snapshots WHERE task_id = ${taskId}`
        .pipe(
          Effect.map((rows) => rows[0]),
          Effect.orDie
        )

    return { upsert, find } as const
  })
}) {}
