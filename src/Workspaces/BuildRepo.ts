/**
 * Workspace builds and their provisioner jobs. A new build is refused while the workspace's latest job is
 * still pending or running, as Coder's wsbuilder does.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { randomUUID } from "node:crypto"
import { BuildReason, ProvisionerJobStatus, type WorkspaceBuild, WorkspaceTransition } from "../Domain/Task.ts"
import { workspaceStatus } from "./WorkspaceStatus.ts"

export class BuildInProgress extends Data.TaggedError("BuildInProgress")<{ readonly workspaceId: string }> {}

const BuildRow = Schema.Struct({
  id: Schema.String,
  created_at: Schema.Date,
  workspace_id: Schema.String,
  workspace_name: Schema.String,
  workspace_owner_id: Schema.String,
  template_version_id: Schema.String,
  build_number: Schema.Number,
  transition: WorkspaceTransition,
  initiator_id: Schema.String,
  reason: BuildReason,
  job_status: ProvisionerJobStatus,
  job_updated_at: Schema.Date
})
type BuildRow = typeof BuildRow.Type

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

export class BuildRepo extends Context.Service<BuildRepo, {
  /**
   * Queues a build and its job. Must run inside a transaction: it locks the workspace row so that two
   * requests cannot both pass the "no build in progress" check.
   */
  readonly insert: (build: NewBuild) => Effect.Effect<WorkspaceBuild, BuildInProgress>
  readonly findBuild: (id: string) => Effect.Effect<WorkspaceBuild | undefined>
}>()("taskd/BuildRepo") {
  static readonly layer = Layer.effect(
    BuildRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const buildById = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: BuildRow,
        execute: (id) =>
          sql`
            SELECT wb.id, wb.created_at, wb.workspace_id, w.name AS workspace_name,
                   w.owner_id AS workspace_owner_id, wb.template_version_id, wb.build_number, wb.transition,
                   wb.initiator_id, wb.reason, pj.job_status, pj.updated_at AS job_updated_at
            FROM workspace_builds wb
            JOIN workspaces w ON w.id = wb.workspace_id
            JOIN provisioner_jobs pj ON pj.id = wb.job_id
            WHERE wb.id = ${id}`
      })

      const findBuild = (id: string) =>
        buildById(id).pipe(Effect.map((row) => Option.isSome(row) ? toWorkspaceBuild(row.value) : undefined))

      const insert = (build: NewBuild) =>
        Effect.gen(function*() {
          const now = new Date(yield* Clock.currentTimeMillis)
          const [workspace] = yield* sql<{ organization_id: string }>`
            SELECT organization_id FROM workspaces WHERE id = ${build.workspaceId} FOR UPDATE`
          if (workspace === undefined) {
            return yield* Effect.die(new Error(`workspace ${build.workspaceId} does not exist`))
          }
          const [latest] = yield* sql<{ build_number: number; template_version_id: string; job_status: string }>`
            SELECT wb.build_number, wb.template_version_id, pj.job_status
            FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
            WHERE wb.workspace_id = ${build.workspaceId}
            ORDER BY wb.build_number DESC LIMIT 1`
          if (latest !== undefined && (latest.job_status === "pending" || latest.job_status === "running")) {
            return yield* new BuildInProgress({ workspaceId: build.workspaceId })
          }
          const templateVersionId = build.templateVersionId ?? latest?.template_version_id
          if (templateVersionId === undefined) {
            return yield* Effect.die(new Error("the first build needs a template version"))
          }
          const jobId = randomUUID()
          const buildId = randomUUID()
          const buildNumber = (latest?.build_number ?? 0) + 1
          yield* sql`INSERT INTO provisioner_jobs (id, organization_id, job_status, created_at, updated_at)
                     VALUES (${jobId}, ${workspace.organization_id}, 'pending', now(), now())`
          yield* sql`INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition,
                                                   reason, initiator_id, job_id, created_at)
                     VALUES (${buildId}, ${build.workspaceId}, ${templateVersionId}, ${buildNumber},
                             ${build.transition}, ${build.reason}, ${build.initiatorId}, ${jobId}, ${now})`
          // Every build of a task's workspace gets its task_workspace_apps row (spec §5.3).
          yield* sql`INSERT INTO task_workspace_apps (task_id, workspace_build_number)
                     SELECT id, ${buildNumber} FROM tasks WHERE workspace_id = ${build.workspaceId}
                     ON CONFLICT DO NOTHING`
          yield* sql`UPDATE workspaces SET updated_at = ${now} WHERE id = ${build.workspaceId}`
          const created = yield* findBuild(buildId)
          if (created === undefined) return yield* Effect.die(new Error(`build ${buildId} vanished`))
          return created
        })

      return BuildRepo.of({
        insert: (build) =>
          insert(build).pipe(Effect.catchTag(["SqlError", "SchemaError"], (error) => Effect.die(error))),
        findBuild: (id) => findBuild(id).pipe(Effect.orDie)
      })
    })
  )
}
