/**
 * One log snapshot per task, replaced by each upload. SQL errors and undecodable rows are defects here, at
 * the repository's edge; rows reach the rest of taskd decoded by Schema.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { parseJsonExact } from "../Domain/Json.ts"
import type { SnapshotEnvelope } from "../Domain/Snapshot.ts"

/** The envelope as it is stored (the encoded form). */
type StoredEnvelope = typeof SnapshotEnvelope.Encoded

/**
 * A jsonb value read as text (`::text`) and parsed exactly: jsonb keeps a number's digits, and the
 * driver's own jsonb parser (`JSON.parse`) would round integers beyond 2^53, such as message ids.
 */
const ExactJsonText = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Unknown,
    SchemaTransformation.transform({ decode: parseJsonExact, encode: (value) => JSON.stringify(value) })
  )
)

/** A stored snapshot: the envelope as jsonb gave it back (still undecoded), and when it was captured. */
export const StoredSnapshot = Schema.Struct({
  log_snapshot: ExactJsonText,
  log_snapshot_created_at: Schema.Date
})
export type StoredSnapshot = typeof StoredSnapshot.Type

/**
 * When a stored snapshot is replaced by an incoming one:
 * - `newer`: unless the incoming one is older; at an equal time, only if the content differs (so that
 *   storing the same snapshot twice changes nothing);
 * - `only-missing`: never;
 * - `overwrite`: always.
 */
export type ConflictMode = "newer" | "only-missing" | "overwrite"

export interface SnapshotRow {
  readonly taskId: string
  readonly envelope: StoredEnvelope
  readonly capturedAt: Date
}

/** What became of a row: stored as new, replacing, kept out by the conflict rule, or its task is gone. */
export const UpsertOutcome = Schema.Literals(["inserted", "updated", "skipped", "missing"])
export type UpsertOutcome = typeof UpsertOutcome.Type

export const ExportedSnapshot = Schema.Struct({
  task_id: Schema.String,
  log_snapshot: ExactJsonText,
  log_snapshot_created_at: Schema.Date
})
export type ExportedSnapshot = typeof ExportedSnapshot.Type

export interface ExportFilter {
  readonly taskIds?: ReadonlyArray<string>
  /** An owner's id or username. */
  readonly owner?: string
  /** Snapshots captured at or after this time. */
  readonly since?: Date
}

const decodeStored = Schema.decodeUnknownEffect(Schema.Array(Schema.Struct({ stored: Schema.Boolean })))
const decodeTaskWorkspaces = Schema.decodeUnknownEffect(
  Schema.Array(Schema.Struct({ workspace_id: Schema.NullOr(Schema.String) }))
)
const decodeOutcomes = Schema.decodeUnknownEffect(
  Schema.Array(Schema.Struct({ task_id: Schema.String, outcome: UpsertOutcome }))
)

const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  /**
   * Stores the snapshot of a live task; false when the task is gone (deleted in the meantime). The
   * locking against deletes and the latest-capture-wins rule live in sql/0003 `store_task_snapshot`.
   */
  const upsert = (taskId: string, envelope: StoredEnvelope, capturedAt: Date): Effect.Effect<boolean> =>
    sql`SELECT store_task_snapshot(${taskId}, ${JSON.stringify(envelope)}::jsonb, ${capturedAt}) AS stored`.pipe(
      Effect.flatMap(decodeStored),
      Effect.map((rows) => rows[0]?.stored === true),
      Effect.orDie
    )

  const findOne = SqlSchema.findOneOption({
    Request: Schema.String,
    Result: StoredSnapshot,
    execute: (taskId) =>
      sql`SELECT log_snapshot::text AS log_snapshot, log_snapshot_created_at FROM task_snapshots WHERE task_id = ${taskId}`
  })
  /** The task's snapshot, or undefined when it has none. */
  const find = (taskId: string): Effect.Effect<StoredSnapshot | undefined> =>
    findOne(taskId).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

  /**
   * The workspace of a live task (a UUID) that uploads may target; undefined when the task does not exist,
   * is deleted, or has no workspace. Only for a TokenAuth without `authenticateAgentForTask` (taskd's own
   * answers the agent and the task in one statement).
   */
  const uploadTaskWorkspace = (taskId: string): Effect.Effect<string | undefined> =>
    sql`SELECT workspace_id FROM tasks WHERE id = ${taskId} AND deleted_at IS NULL`.pipe(
      Effect.flatMap(decodeTaskWorkspaces),
      Effect.map((rows) => rows[0]?.workspace_id ?? undefined),
      Effect.orDie
    )

  const conflictClause = (mode: ConflictMode) => {
    switch (mode) {
      case "only-missing":
        return sql.literal("DO NOTHING")
      case "overwrite":
        return sql.literal(
          "DO UPDATE SET log_snapshot = EXCLUDED.log_snapshot, " +
            "log_snapshot_created_at = EXCLUDED.log_snapshot_created_at"
        )
      case "newer":
        return sql.literal(
          "DO UPDATE SET log_snapshot = EXCLUDED.log_snapshot, " +
            "log_snapshot_created_at = EXCLUDED.log_snapshot_created_at " +
            "WHERE EXCLUDED.log_snapshot_created_at > s.log_snapshot_created_at " +
            "OR (EXCLUDED.log_snapshot_created_at = s.log_snapshot_created_at " +
            "AND EXCLUDED.log_snapshot IS DISTINCT FROM s.log_snapshot)"
        )
    }
  }

  /**
   * Stores many snapshots in one statement (so in one transaction), applying the conflict rule in SQL,
   * and tells for each row what became of it. Rows of unknown or deleted tasks are never stored; the
   * tasks are share-locked so that a concurrent delete cannot leave an orphan. The task ids must be
   * distinct; rows are locked in task id order so that concurrent batches cannot deadlock.
   */
  const upsertMany = (
    rows: ReadonlyArray<SnapshotRow>,
    mode: ConflictMode
  ): Effect.Effect<ReadonlyMap<string, UpsertOutcome>> => {
    if (rows.length === 0) return Effect.succeed(new Map())
    const json = JSON.stringify(rows.map((row) => ({
      task_id: row.taskId,
      log_snapshot: row.envelope,
      captured_at: row.capturedAt.toISOString()
    })))
    return sql`
      WITH input AS (
        SELECT r.task_id, r.log_snapshot, r.captured_at
        FROM jsonb_to_recordset(${json}::jsonb) AS r(task_id uuid, log_snapshot jsonb, captured_at timestamptz)
      ),
      live AS (
        SELECT input.task_id, input.log_snapshot, input.captured_at
        FROM input JOIN tasks ON tasks.id = input.task_id
        WHERE tasks.deleted_at IS NULL
        ORDER BY input.task_id
        FOR SHARE OF tasks
      ),
      written AS (
        INSERT INTO task_snapshots AS s (task_id, log_snapshot, log_snapshot_created_at)
        SELECT task_id, log_snapshot, captured_at FROM live ORDER BY task_id
        ON CONFLICT (task_id) ${conflictClause(mode)}
        RETURNING s.task_id, (s.xmax = 0) AS inserted
      )
      SELECT input.task_id::text AS task_id,
        CASE
          WHEN written.task_id IS NOT NULL THEN CASE WHEN written.inserted THEN 'inserted' ELSE 'updated' END
          WHEN live.task_id IS NULL THEN 'missing'
          ELSE 'skipped'
        END AS outcome
      FROM input
      LEFT JOIN live ON live.task_id = input.task_id
      LEFT JOIN written ON written.task_id = input.task_id`.pipe(
      Effect.flatMap(decodeOutcomes),
      Effect.map((result) => new Map(result.map((row) => [row.task_id, row.outcome]))),
      Effect.orDie
    )
  }

  const page = SqlSchema.findAll({
    Request: Schema.Struct({
      filter: Schema.Struct({
        taskIds: Schema.optionalKey(Schema.Array(Schema.String)),
        owner: Schema.optionalKey(Schema.String),
        since: Schema.optionalKey(Schema.Date)
      }),
      after: Schema.UndefinedOr(Schema.String),
      limit: Schema.Number
    }),
    Result: ExportedSnapshot,
    execute: ({ after, filter, limit }) =>
      sql`
        SELECT s.task_id::text AS task_id, s.log_snapshot::text AS log_snapshot, s.log_snapshot_created_at
        FROM task_snapshots s
        JOIN tasks t ON t.id = s.task_id AND t.deleted_at IS NULL
        ${filter.owner === undefined ? sql.literal("") : sql`JOIN users u ON u.id = t.owner_id`}
        WHERE ${
        sql.and([
          after === undefined ? sql.literal("TRUE") : sql`s.task_id > ${after}`,
          filter.taskIds === undefined ? sql.literal("TRUE") : sql`s.task_id::text IN ${sql.in(filter.taskIds)}`,
          filter.owner === undefined
            ? sql.literal("TRUE")
            : sql`(u.id::text = ${filter.owner} OR lower(u.username) = lower(${filter.owner}))`,
          filter.since === undefined ? sql.literal("TRUE") : sql`s.log_snapshot_created_at >= ${filter.since}`
        ])
      }
        ORDER BY s.task_id
        LIMIT ${limit}`
  })

  /** One page of live tasks' snapshots after `afterTaskId`, in task id order. */
  const exportPage = (
    filter: ExportFilter,
    afterTaskId: string | undefined,
    limit: number
  ): Effect.Effect<ReadonlyArray<ExportedSnapshot>> => page({ filter, after: afterTaskId, limit }).pipe(Effect.orDie)

  return { upsert, find, uploadTaskWorkspace, upsertMany, exportPage } as const
})

export class SnapshotRepo extends Context.Service<SnapshotRepo, Effect.Success<typeof make>>()("taskd/SnapshotRepo") {
  static readonly layer = Layer.effect(SnapshotRepo, make)
}
