/**
 * Workspace agents, their apps, and what they report (lifecycle, app health, app status).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { type AgentLifecycle, AppHealth, type AppStatusState } from "../Domain/Task.ts"

export const AgentApp = Schema.Struct({
  id: Schema.String,
  slug: Schema.String,
  url: Schema.String,
  health: AppHealth
})
export type AgentApp = typeof AgentApp.Type

export interface NewAppStatus {
  readonly id: string
  readonly createdAt: Date
  readonly workspaceId: string
  readonly agentId: string
  readonly appId: string
  readonly state: AppStatusState
  readonly message: string
  readonly uri: string
}

/** Rolls back an app-health update that names an app the agent does not have. */
class UnknownApp extends Data.TaggedError("UnknownApp")<{ readonly appId: string }> {}

export class AgentRepo extends Context.Service<AgentRepo, {
  readonly apps: (agentId: string) => Effect.Effect<ReadonlyArray<AgentApp>>
  /** The live task whose workspace this is, if any. */
  readonly taskOfWorkspace: (workspaceId: string) => Effect.Effect<string | null>
  readonly setLifecycle: (agentId: string, state: AgentLifecycle, at: Date) => Effect.Effect<void>
  /** Sets the health of this agent's apps; the first id that is not one of its apps (and nothing changed), if any. */
  readonly setAppHealths: (
    agentId: string,
    healths: ReadonlyArray<readonly [string, AppHealth]>
  ) => Effect.Effect<string | undefined>
  readonly insertAppStatus: (status: NewAppStatus) => Effect.Effect<void>
  /** Points the agent's app `slug` at `url` (its workspace process now listens there). */
  readonly setAppUrl: (agentId: string, slug: string, url: string) => Effect.Effect<void>
}>()("taskd/AgentRepo") {
  static readonly layer = Layer.effect(
    AgentRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const appsOf = SqlSchema.findAll({
        Request: Schema.String,
        Result: AgentApp,
        execute: (agentId) =>
          sql`SELECT id, slug, url, health FROM workspace_apps WHERE agent_id = ${agentId} ORDER BY slug`
      })

      const apps = (agentId: string): Effect.Effect<ReadonlyArray<AgentApp>> => appsOf(agentId).pipe(Effect.orDie)

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

      const setAppHealths = (agentId: string, healths: ReadonlyArray<readonly [string, AppHealth]>) =>
        sql.withTransaction(Effect.gen(function*() {
          for (const [appId, health] of healths) {
            const updated = yield* sql`UPDATE workspace_apps SET health = ${health}
                                       WHERE id = ${appId} AND agent_id = ${agentId} RETURNING id`
            if (updated.length === 0) return yield* new UnknownApp({ appId })
          }
        })).pipe(
          Effect.as(undefined as string | undefined),
          Effect.catchTag("UnknownApp", (error) => Effect.succeed(error.appId), (error) => Effect.die(error))
        )

      const insertAppStatus = (status: NewAppStatus) =>
        sql`INSERT INTO workspace_app_statuses (id, created_at, workspace_id, agent_id, app_id, state, message, uri)
            VALUES (${status.id}, ${status.createdAt}, ${status.workspaceId}, ${status.agentId}, ${status.appId},
                    ${status.state}, ${status.message}, ${status.uri})`.pipe(Effect.asVoid, Effect.orDie)

      const setAppUrl = (agentId: string, slug: string, url: string) =>
        sql`UPDATE workspace_apps SET url = ${url} WHERE agent_id = ${agentId} AND slug = ${slug}`.pipe(
          Effect.asVoid,
          Effect.orDie
        )

      return AgentRepo.of({ apps, taskOfWorkspace, setLifecycle, setAppHealths, insertAppStatus, setAppUrl })
    })
  )
}
