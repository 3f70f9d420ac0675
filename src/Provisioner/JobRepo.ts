/**
 * Provisioner jobs in Postgres. Instances acquire pending jobs with FOR UPDATE SKIP LOCKED, so several
 * instances share the work and each job runs once; a running job whose worker stopped heartbeating is
 * taken over. Job bookkeeping uses the database's clock, the one clock all instances share.
 *
 * SQL errors and rows that do not decode are defects here, at the repository's edge.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { WorkspaceTransition } from "../Domain/Task.ts"
import { BuildRepo } from "../Workspaces/BuildRepo.ts"

/** A claimed job with what running it needs. */
export const JobContext = Schema.Struct({
  jobId: Schema.String,
  buildId: Schema.String,
  workspaceId: Schema.String,
  buildNumber: Schema.Int,
  transition: WorkspaceTransition,
  ownerId: Schema.String,
  agentCommand: Schema.String,
  templateAppUrl: Schema.String,
  taskId: Schema.NullOr(Schema.String),
  prompt: Schema.String
})
export type JobContext = typeof JobContext.Type

/** The agent and task app taskd creates for a start build. */
export interface NewAgent {
  readonly agentId: string
  readonly tokenHash: Uint8Array
  readonly appId: string
  readonly appSlug: string
  readonly appUrl: string
  readonly at: Date
}

export class JobRepo extends Context.Service<JobRepo, {
  /** Claims the oldest pending job, or a running one abandoned for `staleSeconds`. */
  readonly acquire: (workerId: string, staleSeconds: number) => Effect.Effect<JobContext | undefined>
  readonly heartbeat: (jobId: string, workerId: string) => Effect.Effect<void>
  /** Finishes a job this worker still owns. */
  readonly complete: (jobId: string, workerId: string, outcome: { readonly error?: string }) => Effect.Effect<void>
  /**
   * The agent and task app of a start build (replacing those of an earlier, abandoned attempt), linked
   * to the task for this build number.
   */
  readonly createAgent: (job: JobContext, agent: NewAgent) => Effect.Effect<void>
  /** After a stop: the workspace's agents are off. */
  readonly agentsOff: (workspaceId: string, at: Date) => Effect.Effect<void>
  /** After a delete: the workspace is gone, and so is its task with its snapshot. */
  readonly workspaceDeleted: (workspaceId: string, at: Date) => Effect.Effect<void>
  /**
   * Records a stop that already happened (taskd stopped the workspace while shutting down): a stop build
   * whose job has succeeded, so the task shows as paused and its agent token stops working. Skipped when
   * another build of the workspace is still in progress.
   */
  readonly recordStopped: (workspaceId: string, at: Date) => Effect.Effect<void>
}>()("taskd/JobRepo") {
  static readonly layerNoDeps: Layer.Layer<JobRepo, never, SqlClient.SqlClient | BuildRepo> = Layer.effect(
    JobRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const builds = yield* BuildRepo

      // One statement claims the job and reads its context: the claim is the data-modifying CTE, the
      // context is joined to what it returns.
      const claim = SqlSchema.findOneOption({
        Request: Schema.Struct({ workerId: Schema.String, staleSeconds: Schema.Number }),
        Result: JobContext,
        execute: ({ staleSeconds, workerId }) =>
          sql`
            WITH next AS (
              SELECT id FROM provisioner_jobs
              WHERE job_status = 'pending'
                 OR (job_status = 'running' AND updated_at < now() - make_interval(secs => ${staleSeconds}))
              ORDER BY created_at
              FOR UPDATE SKIP LOCKED
              LIMIT 1
            ), claimed AS (
              UPDATE provisioner_jobs pj
              SET job_status = 'running', worker_id = ${workerId}, started_at = COALESCE(pj.started_at, now()),
                  updated_at = now()
              FROM next WHERE pj.id = next.id
              RETURNING pj.id
            )
            SELECT wb.job_id AS "jobId", wb.id AS "buildId", wb.workspace_id AS "workspaceId",
                   wb.build_number AS "buildNumber", wb.transition, w.owner_id AS "ownerId",
                   tv.agent_command AS "agentCommand", tv.app_url AS "templateAppUrl",
                   t.id AS "taskId", COALESCE(t.prompt, '') AS prompt
            FROM claimed
            JOIN workspace_builds wb ON wb.job_id = claimed.id
            JOIN workspaces w ON w.id = wb.workspace_id
            JOIN template_versions tv ON tv.id = wb.template_version_id
            LEFT JOIN tasks t ON t.workspace_id = wb.workspace_id AND t.deleted_at IS NULL`
      })

      const acquire = (workerId: string, staleSeconds: number) =>
        claim({ workerId, staleSeconds }).pipe(
          Effect.map(Option.getOrUndefined),
          Effect.orDie,
          Effect.withSpan("JobRepo.acquire")
        )

      const heartbeat = (jobId: string, workerId: string) =>
        sql`UPDATE provisioner_jobs SET updated_at = now() WHERE id = ${jobId} AND worker_id = ${workerId}`.pipe(
          Effect.asVoid,
          Effect.orDie
        )

      const complete = (jobId: string, workerId: string, outcome: { readonly error?: string }) =>
        sql`UPDATE provisioner_jobs
            SET job_status = ${outcome.error === undefined ? "succeeded" : "failed"}, error = ${outcome.error ?? null},
                completed_at = now(), updated_at = now()
            WHERE id = ${jobId} AND worker_id = ${workerId} AND job_status = 'running'`.pipe(
          Effect.asVoid,
          Effect.orDie,
          Effect.withSpan("JobRepo.complete")
        )

      const createAgent = (job: JobContext, agent: NewAgent) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`DELETE FROM workspace_agents WHERE workspace_build_id = ${job.buildId}`
          yield* sql`INSERT INTO workspace_agents (id, workspace_build_id, auth_token_hash, lifecycle_state, created_at,
                                                   updated_at)
                     VALUES (${agent.agentId}, ${job.buildId}, ${agent.tokenHash}, 'created', ${agent.at}, ${agent.at})`
          yield* sql`INSERT INTO workspace_apps (id, agent_id, slug, display_name, url, health, created_at)
                     VALUES (${agent.appId}, ${agent.agentId}, ${agent.appSlug}, 'Task', ${agent.appUrl}, 'initializing',
                             ${agent.at})`
          if (job.taskId !== null) {
            yield* sql`INSERT INTO task_workspace_apps (task_id, workspace_build_number, workspace_agent_id,
                                                        workspace_app_id)
                       VALUES (${job.taskId}, ${job.buildNumber}, ${agent.agentId}, ${agent.appId})
                       ON CONFLICT (task_id, workspace_build_number) DO UPDATE
                         SET workspace_agent_id = EXCLUDED.workspace_agent_id,
                             workspace_app_id = EXCLUDED.workspace_app_id`
          }
        })).pipe(Effect.orDie, Effect.withSpan("JobRepo.createAgent"))

      const agentsOff = (workspaceId: string, at: Date) =>
        sql`UPDATE workspace_agents wa SET lifecycle_state = 'off', updated_at = ${at}
            FROM workspace_builds wb
            WHERE wa.workspace_build_id = wb.id AND wb.workspace_id = ${workspaceId} AND wa.lifecycle_state != 'off'`
          .pipe(Effect.asVoid, Effect.orDie)

      const deletedTasks = SqlSchema.findAll({
        Request: Schema.Struct({ workspaceId: Schema.String, at: Schema.Date }),
        Result: Schema.Struct({ id: Schema.String }),
        execute: ({ at, workspaceId }) =>
          sql`UPDATE tasks SET deleted_at = ${at}
              WHERE workspace_id = ${workspaceId} AND deleted_at IS NULL
              RETURNING id`
      })

      // Two statements on purpose (as TaskRepo's soft delete): the UPDATE waits for snapshot uploads that
      // share-lock the task, and the DELETE's snapshot, taken after it, sees what they stored; one
      // statement would take its snapshot up front and could leave the snapshot of a deleted task.
      const workspaceDeleted = (workspaceId: string, at: Date) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`UPDATE workspaces SET deleted = true, updated_at = ${at} WHERE id = ${workspaceId}`
          const deleted = yield* deletedTasks({ workspaceId, at })
          if (deleted.length > 0) {
            yield* sql`DELETE FROM task_snapshots WHERE task_id IN ${sql.in(deleted.map((row) => row.id))}`
          }
        })).pipe(Effect.orDie, Effect.withSpan("JobRepo.workspaceDeleted"))

      const ownerOf = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: Schema.Struct({ owner_id: Schema.String }),
        execute: (workspaceId) => sql`SELECT owner_id FROM workspaces WHERE id = ${workspaceId}`
      })

      const recordStopped = (workspaceId: string, at: Date) =>
        sql.withTransaction(Effect.gen(function*() {
          const workspace = yield* ownerOf(workspaceId)
          if (Option.isNone(workspace)) return
          const build = yield* builds.insert({
            workspaceId,
            transition: "stop",
            reason: "autostop",
            initiatorId: workspace.value.owner_id
          })
          yield* sql`UPDATE provisioner_jobs
                     SET job_status = 'succeeded', started_at = now(), completed_at = now(), updated_at = now()
                     WHERE id = (SELECT job_id FROM workspace_builds WHERE id = ${build.id})`
        })).pipe(
          Effect.catchTag(
            "BuildInProgress",
            () => Effect.logWarning("a build is in progress; the stop is not recorded")
          ),
          Effect.andThen(agentsOff(workspaceId, at)),
          Effect.orDie,
          Effect.withSpan("JobRepo.recordStopped")
        )

      return JobRepo.of({ acquire, heartbeat, complete, createAgent, agentsOff, workspaceDeleted, recordStopped })
    })
  )

  static readonly layer: Layer.Layer<JobRepo, never, SqlClient.SqlClient> = JobRepo.layerNoDeps.pipe(
    Layer.provide(BuildRepo.layer)
  )
}
