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
     * An agent is authorized while its build is the workspace's latest build, and also while a stop build
     * that directly follows its succeeded start build is pending or running: that is when its shutdown
     * script uploads the snapshot (Coder issue #19467). A delete build ends both.
     */
    const findAuthorized = (tokenHash: Uint8Array) =>
      sql<AgentActor>`
        SELECT wa.id AS "agentId", wb.workspace_id AS "workspaceId", w.owner_id AS "ownerId", wb.id AS "buildId"
        FROM workspace_agents wa
        JOIN workspace_builds wb ON wb.id = wa.workspace_build_id
        JOIN provisioner_jobs agent_job ON agent_job.id = wb.job_id
        JOIN workspaces w ON w.id = wb.workspace_id
        JOIN LATERAL (
          SELECT lb.build_number, lb.transition, pj.job_status
          FROM workspace_builds lb JOIN provisioner_jobs pj ON pj.id = lb.job_id
          WHERE lb.workspace_id = wb.workspace_id
          ORDER BY lb.build_number DESC LIMIT 1
        ) latest ON TRUE
        WHERE wa.auth_token_hash = ${tokenHash}
          AND w.deleted = false
          AND (
            latest.build_number = wb.build_number
            OR (latest.transition = 'stop' AND latest.job_status IN ('pending', 'running')
                AND wb.transition = 'start' AND agent_job.job_status = 'succeeded'
                AND wb.build_number = latest.build_number - 1)
          )`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    return { findAuthorized } as const
  })
}) {}
