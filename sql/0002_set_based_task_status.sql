-- tasks_with_status, same columns and rules (spec §5.1), with each "latest row" found by an anti-join
-- instead of a LATERAL ... ORDER BY ... LIMIT 1. A lateral subquery is run once per task, so a list of
-- 10,000 tasks took 10,000 index probes per lateral; an anti-join lets the planner hash whole tables for
-- long lists and still probe by index for one task or one owner's tasks.
CREATE OR REPLACE VIEW tasks_with_status AS
SELECT
  tasks.*,
  CASE
    WHEN tasks.workspace_id IS NULL THEN 'pending'::task_status
    WHEN build_status.status != 'active' THEN build_status.status
    WHEN agent_status.status != 'active' THEN agent_status.status
    ELSE app_status.status
  END AS status,
  task_app.workspace_build_number,
  task_app.workspace_agent_id,
  task_app.workspace_app_id,
  agent_raw.lifecycle_state AS workspace_agent_lifecycle_state,
  app_raw.health AS workspace_app_health,
  task_owner.username AS owner_username,
  task_owner.name AS owner_name,
  task_owner.avatar_url AS owner_avatar_url,
  -- New here: the task app's URL, which the Task JSON needs and which this view already joins.
  app_raw.url AS workspace_app_url
FROM tasks
JOIN users task_owner ON task_owner.id = tasks.owner_id
-- The latest task_workspace_apps row of each task: no row of the same task has a higher build number.
LEFT JOIN (
  SELECT twa.task_id, twa.workspace_build_number, twa.workspace_agent_id, twa.workspace_app_id
  FROM task_workspace_apps twa
  WHERE NOT EXISTS (
    SELECT 1 FROM task_workspace_apps newer
    WHERE newer.task_id = twa.task_id AND newer.workspace_build_number > twa.workspace_build_number
  )
) task_app ON task_app.task_id = tasks.id
LEFT JOIN (
  SELECT wb.workspace_id, wb.build_number, wb.transition, pj.job_status
  FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
) latest_build_raw ON latest_build_raw.workspace_id = tasks.workspace_id
  AND latest_build_raw.build_number = task_app.workspace_build_number
LEFT JOIN workspace_agents agent_raw ON agent_raw.id = task_app.workspace_agent_id
LEFT JOIN workspace_apps app_raw ON app_raw.id = task_app.workspace_app_id
CROSS JOIN LATERAL (SELECT CASE
  WHEN latest_build_raw.job_status IS NULL THEN 'pending'::task_status
  WHEN latest_build_raw.job_status IN ('failed', 'canceling', 'canceled') THEN 'error'::task_status
  WHEN latest_build_raw.transition IN ('stop', 'delete') AND latest_build_raw.job_status = 'succeeded' THEN 'paused'::task_status
  WHEN latest_build_raw.transition = 'start' AND latest_build_raw.job_status = 'pending' THEN 'pending'::task_status
  WHEN latest_build_raw.transition = 'start' AND latest_build_raw.job_status IN ('running', 'succeeded') THEN 'active'::task_status
  ELSE 'unknown'::task_status
END AS status) build_status
CROSS JOIN LATERAL (SELECT CASE
  WHEN agent_raw.lifecycle_state IS NULL OR agent_raw.lifecycle_state IN ('created', 'starting') THEN 'initializing'::task_status
  WHEN agent_raw.lifecycle_state IN ('ready', 'start_timeout', 'start_error') THEN 'active'::task_status
  ELSE 'unknown'::task_status
END AS status) agent_status
CROSS JOIN LATERAL (SELECT CASE
  WHEN app_raw.health = 'initializing' THEN 'initializing'::task_status
  WHEN app_raw.health = 'unhealthy' THEN 'error'::task_status
  WHEN app_raw.health IN ('healthy', 'disabled') THEN 'active'::task_status
  ELSE 'unknown'::task_status
END AS status) app_status
WHERE tasks.deleted_at IS NULL;

-- The latest build of each workspace, and the latest app status of each workspace (newest first, then the
-- highest id), for the Task JSON; the same anti-join shape, so lists of any length plan well.
CREATE VIEW latest_workspace_builds AS
SELECT wb.workspace_id, wb.build_number, wb.transition, pj.job_status, wb.created_at
FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
WHERE NOT EXISTS (
  SELECT 1 FROM workspace_builds newer
  WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
);

CREATE VIEW latest_workspace_app_statuses AS
SELECT s.workspace_id, s.state, s.message, s.uri, s.created_at
FROM workspace_app_statuses s
WHERE NOT EXISTS (
  SELECT 1 FROM workspace_app_statuses newer
  WHERE newer.workspace_id = s.workspace_id AND (newer.created_at, newer.id) > (s.created_at, s.id)
);

-- One row per live task with everything its Task JSON needs (spec §4.1): the one definition that every
-- read of a task goes through.
CREATE VIEW task_rows AS
SELECT t.id, t.organization_id, t.owner_id, t.owner_username, t.owner_avatar_url, t.name, t.display_name,
  t.template_version_id, t.prompt, t.created_at, t.status, t.workspace_id, t.workspace_build_number,
  t.workspace_agent_id, t.workspace_app_id, t.workspace_agent_lifecycle_state, t.workspace_app_health,
  w.template_id, tpl.name AS template_name, tpl.display_name AS template_display_name,
  tpl.icon AS template_icon, w.name AS workspace_name, w.updated_at AS workspace_updated_at,
  lb.transition AS latest_build_transition, lb.job_status AS latest_build_job_status,
  lb.created_at AS latest_build_created_at,
  st.state AS app_status_state, st.message AS app_status_message, st.uri AS app_status_uri,
  st.created_at AS app_status_created_at, t.workspace_app_url AS app_url
FROM tasks_with_status t
LEFT JOIN workspaces w ON w.id = t.workspace_id
LEFT JOIN templates tpl ON tpl.id = w.template_id
LEFT JOIN latest_workspace_builds lb ON lb.workspace_id = t.workspace_id
LEFT JOIN latest_workspace_app_statuses st ON st.workspace_id = t.workspace_id;

-- The reads of one task, or of one owner's tasks, are the hot ones (every task endpoint, every member's
-- list). Planning the view costs more than running it for a few rows, and the client driver sends each
-- statement unprepared; PL/pgSQL keeps the plan of its queries for the session, so going through these
-- functions plans them once per connection instead of once per request.
CREATE FUNCTION task_row_by_id(p_id uuid) RETURNS SETOF task_rows
LANGUAGE plpgsql STABLE ROWS 1 AS $$
BEGIN
  RETURN QUERY SELECT * FROM task_rows WHERE id = p_id;
END
$$;

-- Coder matches task names case-insensitively within one owner.
CREATE FUNCTION task_row_by_name(p_owner uuid, p_name text) RETURNS SETOF task_rows
LANGUAGE plpgsql STABLE ROWS 1 AS $$
BEGIN
  RETURN QUERY SELECT * FROM task_rows WHERE owner_id = p_owner AND lower(name) = lower(p_name);
END
$$;

CREATE FUNCTION task_rows_of_owner(p_owner uuid) RETURNS SETOF task_rows
LANGUAGE plpgsql STABLE ROWS 100 AS $$
BEGIN
  RETURN QUERY SELECT * FROM task_rows WHERE owner_id = p_owner;
END
$$;
