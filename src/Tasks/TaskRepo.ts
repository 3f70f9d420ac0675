/**
 * Tasks, read through the `task_rows` view (sql/0002: deleted tasks hidden, `status` computed, joined with
 * everything the Task JSON needs), so a list of N tasks is one query.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isUniqueViolation } from "../Database/Errors.ts"
import type {
  AgentLifecycle,
  AppHealth,
  ProvisionerJobStatus,
  TaskStatus,
  WorkspaceTransition
} from "../Domain/Task.ts"

export class TaskNameTaken extends Data.TaggedError("TaskNameTaken")<{ readonly name: string }> {}
export class WorkspaceNameTaken extends Data.TaggedError("WorkspaceNameTaken")<{ readonly name: string }> {}

/** A task with its workspace, template, latest build and latest app status. */
export interface TaskRow {
  readonly id: string
  readonly organization_id: string
  readonly owner_id: string
  readonly owner_username: string
  readonly owner_avatar_url: string
  readonly name: string
  readonly display_name: string
  readonly template_version_id: string
  readonly prompt: string
  readonly created_at: Date
  readonly status: TaskStatus
  readonly workspace_id: string | null
  readonly workspace_build_number: number | null
  readonly workspace_agent_id: string | null
  readonly workspace_app_id: string | null
  readonly workspace_agent_lifecycle_state: AgentLifecycle | null
  readonly workspace_app_health: AppHealth | null
  readonly template_id: string | null
  readonly template_name: string | null
  readonly template_display_name: string | null
  readonly template_icon: string | null
  readonly workspace_name: string | null
  readonly workspace_updated_at: Date | null
  readonly latest_build_transition: WorkspaceTransition | null
  readonly latest_build_job_status: ProvisionerJobStatus | null
  readonly latest_build_created_at: Date | null
  readonly app_status_state: string | null
  readonly app_status_message: string | null
  readonly app_status_uri: string | null
  readonly app_status_created_at: Date | null
  readonly app_url: string | null
}

/** Who may see which tasks: owners see all, members their own. */
export interface Visibility {
  readonly userId: string
  readonly seesAll: boolean
}

export interface TaskFilter {
  readonly ownerId?: string | undefined
  readonly organizationId?: string | undefined
  readonly status?: TaskStatus | undefined
}

export interface NewTask {
  readonly id: string
  readonly organizationId: string
  readonly ownerId: string
  readonly name: string
  readonly displayName: string
  readonly templateVersionId: string
  readonly prompt: string
  readonly createdAt: Date
}

export class TaskRepo extends Effect.Service<TaskRepo>()("taskd/TaskRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Task rows from `source` (the task_rows view, or one of its plan-cached functions) that match `where`. */
    const select = (source: Fragment, where: ReadonlyArray<Fragment>) =>
      sql<TaskRow>`SELECT * FROM ${source} t WHERE ${sql.and(where)} ORDER BY t.created_at DESC, t.id DESC`

    const visible = (visibility: Visibility) => visibility.seesAll ? sql`TRUE` : sql`t.owner_id = ${visibility.userId}`

    const findById = (id: string, visibility: Visibility) =>
      select(sql`task_row_by_id(${id})`, [visible(visibility)]).pipe(Effect.map((rows) => rows[0]), Effect.orDie)

    /** Coder matches task names case-insensitively within one owner. */
    const findByOwnerAndName = (ownerId: string, name: string, visibility: Visibility) =>
      select(sql`task_row_by_name(${ownerId}, ${name})`, [visible(visibility)]).pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    const list = (filter: TaskFilter, visibility: Visibility) => {
      // One owner's tasks (a member's own, or an owner:<user> search) take the plan-cached function.
      const owner = filter.ownerId ?? (visibility.seesAll ? undefined : visibility.userId)
      return select(owner === undefined ? sql`task_rows` : sql`task_rows_of_owner(${owner})`, [
        visible(visibility),
        ...(filter.ownerId === undefined ? [] : [sql`t.owner_id = ${filter.ownerId}`]),
        ...(filter.organizationId === undefined ? [] : [sql`t.organization_id = ${filter.organizationId}`]),
        ...(filter.status === undefined ? [] : [sql`t.status = ${filter.status}::task_status`])
      ]).pipe(Effect.orDie)
    }

    /** A live task by id, whoever owns it (for agents and the provisioner). */
    const findRef = (id: string) =>
      sql<{ id: string; owner_id: string; workspace_id: string | null }>`
        SELECT id, owner_id, workspace_id FROM tasks WHERE id = ${id} AND deleted_at IS NULL`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    /**
     * Inserts the task and its workspace and links them; must run inside a transaction with the first build.
     * A live task or workspace of the same owner with the same name is a conflict.
     */
    const insertWithWorkspace = (task: NewTask & { readonly workspaceId: string; readonly templateId: string }) =>
      Effect.gen(function*() {
        yield* sql`INSERT INTO tasks (id, organization_id, owner_id, name, display_name, template_version_id, prompt,
                                      created_at)
                   VALUES (${task.id}, ${task.organizationId}, ${task.ownerId}, ${task.name}, ${task.displayName},
                           ${task.templateVersionId}, ${task.prompt}, ${task.createdAt})`.pipe(
          Effect.catchIf(isUniqueViolation, () => new TaskNameTaken({ name: task.name }))
        )
        yield* sql`INSERT INTO workspaces (id, organization_id, owner_id, template_id, name, created_at, updated_at)
                   VALUES (${task.workspaceId}, ${task.organizationId}, ${task.ownerId}, ${task.templateId},
                           ${task.name}, ${task.createdAt}, ${task.createdAt})`.pipe(
          Effect.catchIf(isUniqueViolation, () => new WorkspaceNameTaken({ name: task.name }))
        )
        yield* sql`UPDATE tasks SET workspace_id = ${task.workspaceId} WHERE id = ${task.id} AND workspace_id IS NULL`
      })

    /**
     * Soft-deletes the live tasks that `where` selects and removes their snapshots (spec §8.4). Two
     * statements in the caller's transaction, not Coder's single CTE: the update waits for uploads that
     * share-lock a task, and the delete, whose snapshot is taken after that, then sees what they stored.
     */
    const softDeleteWhere = (where: Fragment, deletedAt: Date) =>
      Effect.gen(function*() {
        const deleted = yield* sql<{ id: string }>`
          UPDATE tasks SET deleted_at = ${deletedAt} WHERE ${where} AND deleted_at IS NULL RETURNING id`
        if (deleted.length > 0) {
          yield* sql`DELETE FROM task_snapshots WHERE task_id IN ${sql.in(deleted.map((row) => row.id))}`
        }
      })

    /** Deletes a task (DELETE /tasks/{user}/{task}). */
    const softDelete = (id: string, deletedAt: Date) => softDeleteWhere(sql`id = ${id}`, deletedAt)

    /** Deletes the task of a workspace whose delete build completed. */
    const softDeleteOfWorkspace = (workspaceId: string, deletedAt: Date) =>
      softDeleteWhere(sql`workspace_id = ${workspaceId}`, deletedAt)

    /** Replaces the prompt while the task is paused; false when it is not paused (anymore). */
    const updatePromptIfPaused = (id: string, prompt: string) =>
      sql<{ id: string }>`
        UPDATE tasks SET prompt = ${prompt}
        WHERE id = ${id} AND deleted_at IS NULL
          AND (SELECT status FROM tasks_with_status WHERE id = ${id}) = 'paused'
        RETURNING id`.pipe(Effect.map((rows) => rows.length > 0), Effect.orDie)

    return {
      findById,
      findByOwnerAndName,
      list,
      findRef,
      insertWithWorkspace,
      softDelete,
      softDeleteOfWorkspace,
      updatePromptIfPaused
    } as const
  })
}) {}
