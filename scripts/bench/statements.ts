/**
 * taskd's statements on the upload path, as the floor and the bare upsert loop run them: the same SQL
 * text, so that the comparison measures everything but the database work. Keep them equal to taskd's.
 */
/** TokenAuth's agent token lookup (AgentTokenRepo.findAuthorized). */
export const authQuery = `
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
  WHERE wa.auth_token_hash = $1
    AND w.deleted = false
    AND (
      latest.build_number = wb.build_number
      OR (latest.transition = 'stop' AND latest.job_status IN ('pending', 'running')
          AND wb.transition = 'start' AND agent_job.job_status = 'succeeded'
          AND wb.build_number = latest.build_number - 1)
    )`

/** TaskRepo.findRef. */
export const taskQuery = `SELECT id, owner_id, workspace_id FROM tasks WHERE id = $1 AND deleted_at IS NULL`

/** taskd's upsert (SnapshotRepo.upsert): the task share-locked, the latest capture wins. */
export const upsertQuery = `
  WITH live AS (
    SELECT id FROM tasks WHERE id = $3 AND deleted_at IS NULL FOR SHARE
  ), written AS (
    INSERT INTO task_snapshots AS s (task_id, log_snapshot, log_snapshot_created_at)
    SELECT id, $1::jsonb, $2 FROM live
    ON CONFLICT (task_id) DO UPDATE
      SET log_snapshot = EXCLUDED.log_snapshot, log_snapshot_created_at = EXCLUDED.log_snapshot_created_at
      WHERE EXCLUDED.log_snapshot_created_at >= s.log_snapshot_created_at
    RETURNING s.task_id
  )
  SELECT EXISTS (SELECT 1 FROM live) AS live`
