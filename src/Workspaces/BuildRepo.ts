/**
 * Workspace builds and their provisioner jobs. A new build is refused while the workspace's latest job is
 * still pending or running, as Coder's wsbuilder does.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import type { BuildReason, ProvisionerJobStatus, WorkspaceBuild, WorkspaceTransition } from "../Domain/Task.ts"
import { workspaceStatus } from "./WorkspaceStatus.ts"

export class BuildInProgress extends Data.TaggedError("BuildInProgress")<{ readonly workspaceId: string }> {}

interface BuildRow {
  readonly id: string
  readonly created_at: Date
  readonly workspace_id: string
  readonly workspace_name: string
  readonly workspace_owner_id: string
  readonly template_version_id: string
  readonly build_number: number
  readonly transition: WorkspaceTransition
  readonly initiator_id: string
  readonly reason: BuildReason
  readonly job_status: ProvisionerJobStatus
  readonly job_updated_at: Date
}

export const toWorkspaceBuild = (row: BuildRow): WorkspaceBuild => ({
  id: row.id,
  created_at: row.created_at,
  updated_at: row.job_updated_at,
  workspace_id: row.workspace_id,
  workspace_name: row.workspace_name,
  workspace_owner_id: row.workspace_owner_id,
  template_version_id: row.template_version_id,
  build_number: row.build_number,
  transition: row.transition,
  initiator_id: row.initiator_id,
  reason: row.reason,
  job_status: row.job_status,
  status: workspaceStatus(row.transition, row.job_status)
})

export interface NewBuild {
  readonly workspaceId: string
  readonly transition: WorkspaceTransition
  readonly reason: BuildReason
  readonly initiatorId: string
  /** Defaults to the version of the workspace's latest build. */
  readonly templateVersionId?: string
}

export class BuildRepo extends Effect.Service<BuildRepo>()("taskd/BuildRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const findBuild = (id: string) =>
      sql<BuildRow>`
        SELECT wb.id, wb.created_at, wb.workspace_id, w.name AS workspace_name, w.owner_id AS workspace_owner_id,
               wb.template_version_id, wb.build_number, wb.transition, wb.initiator_id, wb.reason,
               pj.job_status, pj.updated_at AS job_updated_at
        FROM workspace_builds wb
        JOIN workspaces w ON w.id = wb.workspace_id
        JOIN provisioner_jobs pj ON pj.id = wb.job_id
        WHERE wb.id = ${id}`.pipe(Effect.map((rows) => rows[0] === undefined ? undefined : toWorkspaceBuild(rows[0])))

    /**
     * Queues a build and its job. Must run inside a transaction: it locks the workspace row so that two
     * requests cannot both pass the "no build in progress" check.
     */
    const insert = (build: NewBuild) =>
      Effect.gen(function*() {
        const now = new Date(yield* Clock.currentTimeMillis)
        const [workspace] = yield* sql<{ organization_id: string }>`
          SELECT organization_id FROM workspaces WHERE id = ${build.workspaceId} FOR UPDATE`
        if (workspace === undefined) return yield* Effect.dieMessage(`workspace ${build.workspaceId} does not exist`)
        const [latest] = yield* sql<{ build_number: number; template_version_id: string; job_status: string }>`
          SELECT wb.build_number, wb.template_version_id, pj.job_status
          FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
          WHERE wb.workspace_id = ${build.workspaceId}
          ORDER BY wb.build_number DESC LIMIT 1`
        if (latest !== undefined && (latest.job_status === "pending" || latest.job_status === "running")) {
          return yield* new BuildInProgress({ workspaceId: build.workspaceId })
        }
        const templateVersionId = build.templateVersionId ?? latest?.template_version_id
        if (templateVersionId === undefined) return yield* Effect.dieMessage("the first build needs a template version")
        const jobId = randomUUID()
        const buildId = randomUUID()
        const buildNumber = (latest?.build_number ?? 0) + 1
        yield* sql`INSERT INTO provisioner_jobs (id, organization_id, job_status, created_at, updated_at)
                   VALUES (${jobId}, ${workspace.organization_id}, 'pending', now(), now())`
        yield* sql`INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition, reason,
                                                 initiator_id, job_id, created_at)
                   VALUES (${buildId}, ${build.workspaceId}, ${templateVersionId}, ${buildNumber}, ${build.transition},
                           ${build.reason}, ${build.initiatorId}, ${jobId}, ${now})`
        // Every build of a task's workspace gets its task_workspace_apps row (spec §5.3).
        yield* sql`INSERT INTO task_workspace_apps (task_id, workspace_build_number)
                   SELECT id, ${buildNumber} FROM tasks WHERE workspace_id = ${build.workspaceId}
                   ON CONFLICT DO NOTHING`
        yield* sql`UPDATE workspaces SET updated_at = ${now} WHERE id = ${build.workspaceId}`
        const created = yield* findBuild(buildId)
        return created!
      })

    return {
      insert: (build: NewBuild) => insert(build).pipe(Effect.catchTag("SqlError", Effect.die)),
      findBuild: (id: string) => findBuild(id).pipe(Effect.orDie)
    } as const
  })
}) {}
