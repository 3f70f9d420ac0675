/**
 * Tasks, read through the `tasks_with_status` view (which hides deleted tasks and computes `status`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export interface TaskRef {
  readonly id: string
  readonly owner_id: string
  readonly workspace_id: string | null
}

export class TaskRepo extends Effect.Service<TaskRepo>()("taskd/TaskRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** A live (not deleted) task by id. */
    const findRef = (id: string) =>
      sql<TaskRef>`SELECT id, owner_id, workspace_id FROM tasks WHERE id = ${id} AND deleted_at IS NULL`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    return { findRef } as const
  })
}) {}
