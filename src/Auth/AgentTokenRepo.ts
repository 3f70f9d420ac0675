/**
 * Resolves a workspace agent token to its agent, when that agent may act now.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import type { AgentActor } from "../Domain/Actor.ts"

const AgentActorRow = Schema.Struct({
  agentId: Schema.String,
  workspaceId: Schema.String,
  ownerId: Schema.String,
  buildId: Schema.String
})

/** A row of sql/0005 `authorized_agent_task`: the agent, and the task when it is live. */
const AgentTaskRow = Schema.Struct({
  ...AgentActorRow.fields,
  taskLive: Schema.Boolean,
  taskWorkspaceId: Schema.NullOr(Schema.String)
})
const decodeAgentTaskRows = Schema.decodeUnknownEffect(Schema.Array(AgentTaskRow))

/** An agent that may act now, and the workspace of the task it asked about. */
export interface AgentForTask {
  readonly agent: AgentActor
  /** The task's workspace; undefined when the task does not exist, is deleted, or has no workspace. */
  readonly taskWorkspaceId: string | undefined
}

export class AgentTokenRepo extends Context.Service<AgentTokenRepo, {
  /**
   * The agent of a token, while it may act (sql/0003 `authorized_agent`: its build is the latest, or the
   * shutdown window of a stop build that directly follows it).
   */
  readonly findAuthorized: (tokenHash: Uint8Array) => Effect.Effect<AgentActor | undefined>
  /**
   * The agent of a token as `findAuthorized` decides it, and the task (a UUID) it asks about, in one
   * statement (sql/0005 `authorized_agent_task`); undefined when the token authorizes no agent now.
   */
  readonly findAuthorizedForTask: (tokenHash: Uint8Array, taskId: string) => Effect.Effect<AgentForTask | undefined>
}>()("taskd/AgentTokenRepo") {
  static readonly layer = Layer.effect(
    AgentTokenRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const authorized = SqlSchema.findOneOption({
        Request: Schema.Uint8Array,
        Result: AgentActorRow,
        execute: (tokenHash) =>
          sql`
            SELECT agent_id AS "agentId", workspace_id AS "workspaceId", owner_id AS "ownerId",
                   build_id AS "buildId"
            FROM authorized_agent(${tokenHash})`
      })

      const findAuthorized = (tokenHash: Uint8Array): Effect.Effect<AgentActor | undefined> =>
        authorized(tokenHash).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

      // scripts/bench/statements.ts (authorizeUploadQuery) repeats this SQL text: change both together.
      const findAuthorizedForTask = (tokenHash: Uint8Array, taskId: string): Effect.Effect<AgentForTask | undefined> =>
        sql`SELECT agent_id AS "agentId", workspace_id AS "workspaceId", owner_id AS "ownerId", build_id AS "buildId",
               task_live AS "taskLive", task_workspace_id AS "taskWorkspaceId"
        FROM authorized_agent_task(${tokenHash}, ${taskId})`.pipe(
          Effect.flatMap(decodeAgentTaskRows),
          Effect.map((rows) => {
            const row = rows[0]
            if (row === undefined) return undefined
            const { agentId, buildId, ownerId, taskLive, taskWorkspaceId, workspaceId } = row
            return {
              agent: { agentId, workspaceId, ownerId, buildId },
              taskWorkspaceId: taskLive && taskWorkspaceId !== null ? taskWorkspaceId : undefined
            }
          }),
          Effect.orDie
        )

      return AgentTokenRepo.of({ findAuthorized, findAuthorizedForTask })
    })
  )
}
