-- The statements of every workspace agent request (the token lookup) and of every snapshot upload, as
-- PL/pgSQL functions: their plans are kept per connection, where the driver's unprepared statements were
-- planned again on each request (3-4 ms for the token lookup, about 1 ms for the upsert, against well
-- under 1 ms to run them).

-- An agent is authorized while its build is the workspace's latest build, and also while a stop build that
-- directly follows its succeeded start build is pending or running: that is when its shutdown script
-- uploads the snapshot (Coder issue #19467). A delete build ends both.
CREATE FUNCTION authorized_agent(p_token_hash bytea)
RETURNS TABLE (agent_id uuid, workspace_id uuid, owner_id uuid, build_id uuid)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT wa.id, wb.workspace_id, w.owner_id, wb.id
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
  WHERE wa.auth_token_hash = p_token_hash
    AND w.deleted = false
    AND (
      latest.build_number = wb.build_number
      OR (latest.transition = 'stop' AND latest.job_status IN ('pending', 'running')
          AND wb.transition = 'start' AND agent_job.job_status = 'succeeded'
          AND wb.build_number = latest.build_number - 1)
    );
END
$$;

-- Stores the snapshot of a live task; false when the task is gone (deleted in the meantime). The task row
-- is share-locked, so an upload racing a delete either waits for the delete and finds the task gone, or
-- makes the delete wait and is then removed by it: no orphan. Of uploads racing each other, the one
-- captured last wins whatever the commit order (an older capture that commits later changes nothing).
CREATE FUNCTION store_task_snapshot(p_task_id uuid, p_log_snapshot jsonb, p_captured_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM 1 FROM tasks WHERE id = p_task_id AND deleted_at IS NULL FOR SHARE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO task_snapshots AS s (task_id, log_snapshot, log_snapshot_created_at)
  VALUES (p_task_id, p_log_snapshot, p_captured_at)
  ON CONFLICT (task_id) DO UPDATE
    SET log_snapshot = EXCLUDED.log_snapshot, log_snapshot_created_at = EXCLUDED.log_snapshot_created_at
    WHERE EXCLUDED.log_snapshot_created_at >= s.log_snapshot_created_at;
  RETURN true;
END
$$;
