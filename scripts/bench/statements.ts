/**
 * taskd's statements on the upload path, as the floor and the bare upsert loop run them: the same SQL
 * text, so that both do the same database work and the comparison measures the rest. Keep them equal to
 * taskd's (src/Auth/AgentTokenRepo.ts findAuthorizedForTask, src/Snapshots/SnapshotRepo.ts upsert).
 */

/** AgentTokenRepo.findAuthorizedForTask: the agent of the token and the task it uploads to, in one statement. */
export const authorizeUploadQuery =
  `SELECT agent_id AS "agentId", workspace_id AS "workspaceId", owner_id AS "ownerId", build_id AS "buildId",
               task_live AS "taskLive", task_workspace_id AS "taskWorkspaceId"
        FROM authorized_agent_task($1, $2)`

/** taskd's upsert (SnapshotRepo.upsert): the task share-locked, the latest capture wins. */
export const upsertQuery = `SELECT store_task_snapshot($1, $2::jsonb, $3) AS stored`
