/**
 * taskd's statements on the upload path, as the floor and the bare upsert loop run them: the same SQL
 * text, so that both do the same database work and the comparison measures the rest. Keep them equal to
 * taskd's.
 */
/** TokenAuth's agent token lookup (AgentTokenRepo.findAuthorized). */
export const authQuery = `
  SELECT agent_id AS "agentId", workspace_id AS "workspaceId", owner_id AS "ownerId", build_id AS "buildId"
  FROM authorized_agent($1)`

/** TaskRepo.findRef. */
export const taskQuery = `SELECT id, owner_id, workspace_id FROM tasks WHERE id = $1 AND deleted_at IS NULL`

/** taskd's upsert (SnapshotRepo.upsert): the task share-locked, the latest capture wins. */
export const upsertQuery = `SELECT store_task_snapshot($3, $1::jsonb, $2) AS live`
