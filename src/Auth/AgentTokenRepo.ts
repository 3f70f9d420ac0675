/**
 * Resolves a workspace agent token to its agent, when that agent may act now.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { AgentActor } from "../Domain/Actor.ts"

export class AgentTokenRepo extends Effect.Service<AgentTokenRepo>()("taskd/AgentTokenRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * The agent of a token, while it may act (sql/0003 `authorized_agent`: its build is the latest, or the
     * shutdown window of a stop build that directly follows it).
     */
    const findAuthorized = (tokenHash: Uint8Array) =>
      sql<AgentActor>`
        SELECT agent_id AS "agentId", workspace_id AS "workspaceId", owner_id AS "ownerId", build_id AS "buildId"
        FROM authorized_agent(${tokenHash})`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    return { findAuthorized } as const
  })
}) {}
