-- The snapshot upload's checks before its body is read, in one statement instead of two: the agent of the
-- token (as `authorized_agent` decides it) and the task the upload is for. Returns no row when the token
-- authorizes no agent now (401); otherwise the agent, whether the task is live, and the task's workspace,
-- which must be the agent's (else 404). PL/pgSQL like its neighbours in 0003, so its plan is kept per
-- connection.
CREATE FUNCTION authorized_agent_task(p_token_hash bytea, p_task_id uuid)
RETURNS TABLE (agent_id uuid, workspace_id uuid, owner_id uuid, build_id uuid, task_live boolean,
               task_workspace_id uuid)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT a.agent_id, a.workspace_id, a.owner_id, a.build_id, t.id IS NOT NULL, t.workspace_id
  FROM authorized_agent(p_token_hash) a
  LEFT JOIN tasks t ON t.id = p_task_id AND t.deleted_at IS NULL;
END
$$;
