/**
 * Workspace agents, their apps, and what they report (lifecycle, app health, app status).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { AgentLifecycle, AppHealth, AppStatusState } from "../Domain/Task.ts"

export interface AgentApp {
  readonly id: string
  readonly slug: string
  readonly url: string
  readonly health: AppHealth
}

export class AgentRepo extends Effect.Service<AgentRepo>()("taskd/AgentRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const apps = (agentId: string) =>
      sql<AgentApp>`SELECT id, slug, url, health FROM workspace_apps WHERE agent_id = ${agentId} ORDER BY slug`.pipe(
        Effect.orDie
      )

    /** The live task whose workspace this is, if any. */
    const taskOfWorkspace = (workspaceId: string) =>
      sql<{ id: string }>`SELECT id FROM tasks WHERE workspace_id = ${workspaceId} AND deleted_at IS NULL`.pipe(
        Effect.map((rows) => rows[0]?.id ?? null),
        Effect.orDie
      )

    const setLifecycle = (agentId: string, state: AgentLifecycle, at: Date) =>
      sql`UPDATE workspace_agents SET lifecycle_state = ${state}, updated_at = ${at} WHERE id = ${agentId}`.pipe(
        Effect.asVoid,
        Effect.orDie
      )

    /** Sets the health of this agent's apps; false (and nothing changed) if an id is not one of its apps. */
    const setAppHealths = (agentId: string, healths: ReadonlyArray<readonly [string, AppHealth]>) =>
      sql.withTransaction(Effect.gen(function*() {
        for (const [appId, health] of healths) {
          const updated = yield* sql`UPDATE workspace_apps SET health = ${health}
                                     WHERE id = ${appId} AND agent_id = ${agentId} RETURNING id`
          if (updated.length === 0) return yield* Effect.fail(appId)
        }
      })).pipe(
        Effect.as(undefined as string | undefined),
        Effect.catchAll((error) => typeof error === "string" ? Effect.succeed(error) : Effect.die(error))
      )

    const insertAppStatus = (status: {
      readonly id: string
      readonly createdAt: Date
      readonly workspaceId: string
      readonly agentId: string
      readonly appId: string
      readonly state: AppStatusState
      readonly message: string
      readonly uri: string
    }) =>
      sql`INSERT INTO workspace_app_statuses (id, created_at, workspace_id, agent_id, app_id, state, message, uri)
          VALUES (${status.id}, ${status.createdAt}, ${status.workspaceId}, ${status.agentId}, ${status.appId},
                  ${status.state}, ${status.message}, ${status.uri})`.pipe(Effect.asVoid, Effect.orDie)

    return { apps, taskOfWorkspace, setLifecycle, setAppHealths, insertAppStatus } as const
  })
}) {}
