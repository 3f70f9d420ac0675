/**
 * Provisioner jobs in Postgres. Instances acquire pending jobs with FOR UPDATE SKIP LOCKED, so several
 * instances share the work and each job runs once. A running job is taken over when its instance is gone
 * (it stopped cleanly, or its instance heartbeat is older than the timeout it announced) or, as a
 * backstop, when the job's own heartbeat is older than TASKD_JOB_TIMEOUT. Job bookkeeping uses the
 * database's clock, the one clock all instances share.
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

/** A taskd instance that runs jobs, as it registers itself. */
export interface Instance {
  readonly id: string
  readonly hostname: string
  readonly pid: number
  /** How old its last heartbeat may get before other instances take its jobs over. */
  readonly staleSeconds: number
}

/** Who claims a job: a worker of an instance. */
export interface Claimant {
  readonly workerId: string
  readonly instanceId: string
}

export class JobRepo extends Context.Service<JobRepo, {
  /** Records a starting instance (and forgets instances gone for a week). */
  readonly registerInstance: (instance: Instance) => Effect.Effect<void>
  /** The instance is alive: its jobs stay its own. */
  readonly instanceHeartbeat: (instanceId: string) => Effect.Effect<void>
  /**
   * A clean shutdown: puts the instance's running jobs back to pending, so that another instance claims
   * them at once, and marks the instance stopped. Answers how many jobs went back.
   */
  readonly stopInstance: (instanceId: string) => Effect.Effect<number>
  /**
   * Claims the oldest pending job, or a running one whose instance is gone (stopped, or its heartbeat
   * stale) or whose own heartbeat is older than `staleSeconds`.
   */
  readonly acquire: (claimant: Claimant, staleSeconds: number) => Effect.Effect<JobContext | undefined>
  readonly heartbeat: (jobId: string, workerId: string) => Effect.Effect<void>
  /** Finishes a job this worker still owns. */
  readonly complete: (jobId: string, workerId: string, outcome: { readonly error?: string }) => Effect.Effect<void>
  /** Puts a job this worker claimed but did not start back in the queue, for any instance to claim. */
  readonly release: (jobId: string, workerId: string) => Effect.Effect<void>
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

      const registerInstance = (instance: Instance) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`DELETE FROM taskd_instances
                     WHERE (stopped_at IS NOT NULL OR heartbeat_at + stale_after < now())
                       AND heartbeat_at < now() - interval '7 days'`
          yield* sql`INSERT INTO taskd_instances (id, hostname, pid, started_at, heartbeat_at, stale_after)
                     VALUES (${instance.id}, ${instance.hostname}, ${instance.pid}, now(), now(),
                             make_interval(secs => ${instance.staleSeconds}))`
        })).pipe(Effect.orDie, Effect.withSpan("JobRepo.registerInstance"))

      const instanceHeartbeat = (instanceId: string) =>
        sql`UPDATE taskd_instances SET heartbeat_at = now() WHERE id = ${instanceId} AND stopped_at IS NULL`.pipe(
          Effect.asVoid,
          Effect.orDie
        )

      const releasedJobs = SqlSchema.findAll({
        Request: Schema.String,
        Result: Schema.Struct({ id: Schema.String }),
        execute: (instanceId) =>
          sql`UPDATE provisioner_jobs
              SET job_status = 'pending', worker_id = NULL, instance_id = NULL, updated_at = now()
              WHERE instance_id = ${instanceId} AND job_status = 'running'
              RETURNING id`
      })

      const stopInstance = (instanceId: string) =>
        sql.withTransaction(Effect.gen(function*() {
          const released = yield* releasedJobs(instanceId)
          yield* sql`UPDATE taskd_instances SET stopped_at = now() WHERE id = ${instanceId}`
          return released.length
        })).pipe(Effect.orDie, Effect.withSpan("JobRepo.stopInstance"))

      // One statement claims the job and reads its context: the claim is the data-modifying CTE, the
      // context is joined to what it returns. A running job is claimable when its instance is not known
      // alive (stopped, heartbeat older than the timeout it announced, or forgotten; jobs claimed before
      // instances were recorded have none and wait for their own heartbeat to go stale), or when the job's
      // own heartbeat is older than `staleSeconds`.
      const claim = SqlSchema.findOneOption({
        Request: Schema.Struct({ workerId: Schema.String, instanceId: Schema.String, staleSeconds: Schema.Number }),
        Result: JobContext,
        execute: ({ instanceId, staleSeconds, workerId }) =>
          sql`
            WITH next AS (
              SELECT pj.id FROM provisioner_jobs pj
              WHERE pj.job_status = 'pending'
                 OR (pj.job_status = 'running' AND (
                      pj.updated_at < now() - make_interval(secs => ${staleSeconds})
                      OR (pj.instance_id IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM taskd_instances i
                        WHERE i.id = pj.instance_id AND i.stopped_at IS NULL AND i.heartbeat_at + i.stale_after >= now()
                      ))
                    ))
              ORDER BY pj.created_at
              FOR UPDATE OF pj SKIP LOCKED
              LIMIT 1
            ), claimed AS (
              UPDATE provisioner_jobs pj
              SET job_status = 'running', worker_id = ${workerId}, instance_id = ${instanceId},
                  started_at = COALESCE(pj.started_at, now()), updated_at = now()
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

      const acquire = (claimant: Claimant, staleSeconds: number) =>
        claim({ ...claimant, staleSeconds }).pipe(
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

      const release = (jobId: string, workerId: string) =>
        sql`UPDATE provisioner_jobs
            SET job_status = 'pending', worker_id = NULL, instance_id = NULL, updated_at = now()
            WHERE id = ${jobId} AND worker_id = ${workerId} AND job_status = 'running'`.pipe(
          Effect.asVoid,
          Effect.orDie,
          Effect.withSpan("JobRepo.release")
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

      return JobRepo.of({
        registerInstance,
        instanceHeartbeat,
        stopInstance,
        acquire,
        heartbeat,
        complete,
        release,
        createAgent,
        agentsOff,
        workspaceDeleted,
        recordStopped
      })
    })
  )

  static readonly layer: Layer.Layer<JobRepo, never, SqlClient.SqlClient> = JobRepo.layerNoDeps.pipe(
    Layer.provide(BuildRepo.layer)
  )
}
