/**
 * Provisioner jobs in Postgres. Instances acquire pending jobs with FOR UPDATE SKIP LOCKED, so several
 * instances share the work and each job runs once; a running job whose worker stopped heartbeating is
 * taken over. Job bookkeeping uses the database's clock, the one clock all instances share.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { WorkspaceTransition } from "../Domain/Task.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { BuildRepo } from "../Workspaces/BuildRepo.ts"

export interface JobContext {
  readonly jobId: string
  readonly buildId: string
  readonly workspaceId: string
  readonly buildNumber: number
  readonly transition: WorkspaceTransition
  readonly ownerId: string
  readonly agentCommand: string
  readonly templateAppUrl: string
  readonly taskId: string | null
  readonly prompt: string
}

export class JobRepo extends Effect.Service<JobRepo>()("taskd/JobRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tasks = yield* TaskRepo
    const builds = yield* BuildRepo

    /** Claims the oldest pending job, or a running one abandoned for `staleSeconds`. */
    const acquire = (workerId: string, staleSeconds: number) =>
      Effect.gen(function*() {
        const claimed = yield* sql<{ id: string }>`
          WITH next AS (
            SELECT id FROM provisioner_jobs
            WHERE job_status = 'pending'
               OR (job_status = 'running' AND updated_at < now() - make_interval(secs => ${staleSeconds}))
            ORDER BY created_at
            FOR UPDATE SKIP LOCKED
            LIMIT 1
          )
          UPDATE provisioner_jobs pj
          SET job_status = 'running', worker_id = ${workerId}, started_at = COALESCE(pj.started_at, now()),
              updated_at = now()
          FROM next WHERE pj.id = next.id
          RETURNING pj.id`
        if (claimed.length === 0) return undefined
        const [context] = yield* sql<JobContext>`
          SELECT wb.job_id AS "jobId", wb.id AS "buildId", wb.workspace_id AS "workspaceId",
                 wb.build_number AS "buildNumber", wb.transition, w.owner_id AS "ownerId",
                 tv.agent_command AS "agentCommand", tv.app_url AS "templateAppUrl",
                 t.id AS "taskId", COALESCE(t.prompt, '') AS prompt
          FROM workspace_builds wb
          JOIN workspaces w ON w.id = wb.workspace_id
          JOIN template_versions tv ON tv.id = wb.template_version_id
          LEFT JOIN tasks t ON t.workspace_id = wb.workspace_id AND t.deleted_at IS NULL
          WHERE wb.job_id = ${claimed[0]!.id}`
        return context
      }).pipe(Effect.orDie)

    const heartbeat = (jobId: string, workerId: string) =>
      sql`UPDATE provisioner_jobs SET updated_at = now() WHERE id = ${jobId} AND worker_id = ${workerId}`.pipe(
        Effect.asVoid,
        Effect.orDie
      )

    /** Finishes a job this worker still owns. */
    const complete = (jobId: string, workerId: string, outcome: { readonly error?: string }) =>
      sql`UPDATE provisioner_jobs
          SET job_status = ${outcome.error === undefined ? "succeeded" : "failed"}, error = ${outcome.error ?? null},
              completed_at = now(), updated_at = now()
          WHERE id = ${jobId} AND worker_id = ${workerId} AND job_status = 'running'`.pipe(Effect.asVoid, Effect.orDie)

    /**
     * The agent and task app of a start build (replacing those of an earlier, abandoned attempt), linked
     * to the task for this build number.
     */
    const createAgent = (job: JobContext, agent: {
      readonly agentId: string
      readonly tokenHash: Uint8Array
      readonly appId: string
      readonly appSlug: string
      readonly appUrl: string
      readonly at: Date
    }) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`DELETE FROM workspace_agents WHERE workspace_build_id = ${job.buildId}`
        yield* sql`INSERT INTO workspace_agents (id, workspace_build_id, auth_token_hash, lifecycle_state, created_at,
                                                 updated_at)
                   VALUES (${agent.agentId}, ${job.buildId}, ${agent.tokenHash}, 'created', ${agent.at}, ${agent.at})`
        yield* sql`INSERT INTO workspace_apps (id, agent_id, slug, display_name, url, health, created_at)
                   VALUES (${agent.appId}, ${agent.agentId}, ${agent.appSlug}, 'Task', ${agent.appUrl}, 'initializing',
                           ${agent.at})`
        if (job.taskId !== null) {
          yield* sql`INSERT INTO task_workspace_apps (task_id, workspace_build_number, workspace_agent_id, workspace_app_id)
                     VALUES (${job.taskId}, ${job.buildNumber}, ${agent.agentId}, ${agent.appId})
                     ON CONFLICT (task_id, workspace_build_number) DO UPDATE
                       SET workspace_agent_id = EXCLUDED.workspace_agent_id,
                           workspace_app_id = EXCLUDED.workspace_app_id`
        }
      })).pipe(Effect.orDie)

    /** After a stop: the workspace's agents are off. */
    const agentsOff = (workspaceId: string, at: Date) =>
      sql`UPDATE workspace_agents wa SET lifecycle_state = 'off', updated_at = ${at}
          FROM workspace_builds wb
          WHERE wa.workspace_build_id = wb.id AND wb.workspace_id = ${workspaceId} AND wa.lifecycle_state != 'off'`
        .pipe(
          Effect.asVoid,
          Effect.orDie
        )

    /** After a delete: the workspace is gone, and so is its task with its snapshot. */
    const workspaceDeleted = (workspaceId: string, at: Date) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`UPDATE workspaces SET deleted = true, updated_at = ${at} WHERE id = ${workspaceId}`
        yield* tasks.softDeleteOfWorkspace(workspaceId, at)
      })).pipe(Effect.orDie)

    /**
     * Records a stop that already happened (taskd stopped the workspace while shutting down): a stop build
     * whose job has succeeded, so the task shows as paused and its agent token stops working. Skipped when
     * another build of the workspace is still in progress.
     */
    const recordStopped = (workspaceId: string, at: Date) =>
      sql.withTransaction(Effect.gen(function*() {
        const [workspace] = yield* sql<{ owner_id: string }>`SELECT owner_id FROM workspaces WHERE id = ${workspaceId}`
        if (workspace === undefined) return
        const build = yield* builds.insert({
          workspaceId,
          transition: "stop",
          reason: "autostop",
          initiatorId: workspace.owner_id
        })
        yield* sql`UPDATE provisioner_jobs
                   SET job_status = 'succeeded', started_at = now(), completed_at = now(), updated_at = now()
                   WHERE id = (SELECT job_id FROM workspace_builds WHERE id = ${build.id})`
      })).pipe(
        Effect.catchTag("BuildInProgress", () => Effect.logWarning("a build is in progress; the stop is not recorded")),
        Effect.zipRight(agentsOff(workspaceId, at)),
        Effect.orDie
      )

    return { acquire, heartbeat, complete, createAgent, agentsOff, workspaceDeleted, recordStopped } as const
  }),
  dependencies: [TaskRepo.Default, BuildRepo.Default]
}) {}
