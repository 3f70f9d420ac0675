/**
 * Who records which task's agent (sql/0008 task_streams.recorder_instance), claimed the way provisioner
 * jobs are (src/Provisioner/JobRepo.ts): a task's recorder belongs to one taskd instance, and another
 * instance takes it over as soon as it can know that instance is gone: stopped cleanly (taskd_instances
 * .stopped_at; a clean shutdown also releases its claims), or its heartbeat older than the timeout it
 * announced (killed, frozen or cut off from the database). The database's clock decides, the one clock all
 * instances share.
 *
 * A task needs a recorder while its status, as last announced in its stream row (the first field of
 * task_fingerprint), is active or initializing: its agent runs, or is about to (a recorder of a starting
 * agent retries with backoff until the agent answers).
 *
 * SQL errors and rows that do not decode are defects here, at the repository's edge.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"

/** A task this instance holds the recorder of, and whether it still needs one. */
export interface HeldTask {
  readonly taskId: string
  readonly needed: boolean
}

/** Where a task's agent is now. */
export interface TaskApp {
  readonly status: string
  /** The task app's URL ("" when none is configured). */
  readonly url: string
}

const TaskIdRow = Schema.Struct({ task_id: Schema.String })
const HeldRow = Schema.Struct({ task_id: Schema.String, needed: Schema.Boolean })
const AppRow = Schema.Struct({ status: Schema.String, app_url: Schema.NullOr(Schema.String) })

export class RecorderRepo extends Context.Service<RecorderRepo, {
  /**
   * Claims, for `instanceId`, every task that needs a recorder and has no live one: unclaimed, or claimed
   * by an instance that is gone. Answers the tasks claimed now.
   */
  readonly claim: (instanceId: string) => Effect.Effect<ReadonlyArray<string>>
  /** The tasks whose recorder `instanceId` holds, each with whether it still needs one. */
  readonly held: (instanceId: string) => Effect.Effect<ReadonlyArray<HeldTask>>
  /** Gives up the claims of `instanceId` on `taskIds` (those it still holds). */
  readonly release: (instanceId: string, taskIds: ReadonlyArray<string>) => Effect.Effect<void>
  /** Gives up every claim of `instanceId` (a clean shutdown): other instances take them over at once. */
  readonly releaseAll: (instanceId: string) => Effect.Effect<number>
  /** The task's status and app URL now, or undefined when the task is gone. */
  readonly taskApp: (taskId: string) => Effect.Effect<TaskApp | undefined>
  /** Whether the database is the embedded PGlite (one process: nothing to share, no notifications). */
  readonly embedded: Effect.Effect<boolean>
}>()("taskd/RecorderRepo") {
  static readonly make = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    // The condition of sql/0008's partial index task_streams_recordable_idx, word for word, so that the
    // planner uses it: the scan reads only the tasks whose agent runs.
    const needsRecorder = (alias: string) =>
      sql.literal(
        `NOT ${alias}.deleted AND split_part(${alias}.task_fingerprint, chr(31), 1) IN ('active', 'initializing')`
      )

    // One statement: the candidates are locked (SKIP LOCKED: a row another instance is claiming, or a
    // recording in progress, is left to the next round rather than waited for) and claimed. A claim is
    // taken over when its instance is not known alive: stopped, heartbeat older than the timeout it
    // announced, or forgotten (its row cleaned up).
    const claimed = SqlSchema.findAll({
      Request: Schema.String,
      Result: TaskIdRow,
      execute: (instanceId) =>
        sql`
          WITH candidates AS (
            SELECT s.task_id FROM task_streams s
            WHERE ${needsRecorder("s")}
              -- A task app without a URL has nothing to follow (and 10,000 recorders retrying nothing
              -- took a server's whole CPU).
              AND EXISTS (
                SELECT 1 FROM task_workspace_apps twa JOIN workspace_apps a ON a.id = twa.workspace_app_id
                WHERE twa.task_id = s.task_id AND a.url <> ''
              )
              AND (s.recorder_instance IS NULL OR (s.recorder_instance <> ${instanceId} AND NOT EXISTS (
                SELECT 1 FROM taskd_instances i
                WHERE i.id = s.recorder_instance AND i.stopped_at IS NULL AND i.heartbeat_at + i.stale_after >= now()
              )))
            FOR UPDATE OF s SKIP LOCKED
          )
          UPDATE task_streams s SET recorder_instance = ${instanceId}, recorder_claimed_at = now()
          FROM candidates WHERE s.task_id = candidates.task_id
          RETURNING s.task_id`
    })

    const heldRows = SqlSchema.findAll({
      Request: Schema.String,
      Result: HeldRow,
      execute: (instanceId) =>
        sql`SELECT s.task_id, (${needsRecorder("s")}) AS needed FROM task_streams s
            WHERE s.recorder_instance = ${instanceId}`
    })

    const appRows = SqlSchema.findAll({
      Request: Schema.String,
      Result: AppRow,
      execute: (taskId) => sql`SELECT status::text AS status, app_url FROM task_row_by_id(${taskId})`
    })

    const claim = (instanceId: string) =>
      claimed(instanceId).pipe(
        Effect.map((rows) => rows.map((row) => row.task_id)),
        Effect.orDie
      )

    const held = (instanceId: string) =>
      heldRows(instanceId).pipe(
        Effect.map((rows) => rows.map((row) => ({ taskId: row.task_id, needed: row.needed }))),
        Effect.orDie
      )

    const release = (instanceId: string, taskIds: ReadonlyArray<string>) =>
      taskIds.length === 0 ? Effect.void : sql`
        UPDATE task_streams SET recorder_instance = NULL, recorder_claimed_at = NULL
        WHERE recorder_instance = ${instanceId} AND task_id IN ${sql.in(taskIds)}`.pipe(Effect.asVoid, Effect.orDie)

    const releaseAll = (instanceId: string) =>
      sql<{ task_id: string }>`
        UPDATE task_streams SET recorder_instance = NULL, recorder_claimed_at = NULL
        WHERE recorder_instance = ${instanceId}
        RETURNING task_id`.pipe(Effect.map((rows) => rows.length), Effect.orDie)

    const taskApp = (taskId: string) =>
      appRows(taskId).pipe(
        Effect.map((rows) => {
          const row = rows[0]
          return row === undefined ? undefined : { status: row.status, url: row.app_url ?? "" }
        }),
        Effect.orDie
      )

    const embedded = sql<{ version: string }>`SELECT version() AS version`.pipe(
      Effect.map((rows) => (rows[0]?.version ?? "").includes("PGlite")),
      Effect.orDie
    )

    return RecorderRepo.of({ claim, held, release, releaseAll, taskApp, embedded })
  })

  static readonly layer: Layer.Layer<RecorderRepo, never, SqlClient.SqlClient> = Layer.effect(
    RecorderRepo,
    RecorderRepo.make
  )
}
