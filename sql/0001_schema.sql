-- The taskd schema: Coder's Tasks data model (tasks, task_workspace_apps, task_snapshots and the
-- tasks_with_status view) plus the slice of users, templates, workspaces and builds that it depends on.

CREATE TYPE user_role AS ENUM ('owner', 'member');
CREATE TYPE workspace_transition AS ENUM ('start', 'stop', 'delete');
CREATE TYPE provisioner_job_status AS ENUM ('pending', 'running', 'succeeded', 'canceling', 'canceled', 'failed', 'unknown');
CREATE TYPE build_reason AS ENUM ('initiator', 'autostart', 'autostop', 'task_auto_pause', 'task_manual_pause', 'task_resume');
CREATE TYPE workspace_agent_lifecycle_state AS ENUM (
  'created', 'starting', 'start_timeout', 'start_error', 'ready',
  'shutting_down', 'shutdown_timeout', 'shutdown_error', 'off'
);
CREATE TYPE workspace_app_health AS ENUM ('disabled', 'initializing', 'healthy', 'unhealthy');
CREATE TYPE workspace_app_status_state AS ENUM ('working', 'idle', 'complete', 'failure');
CREATE TYPE task_status AS ENUM ('pending', 'initializing', 'active', 'paused', 'unknown', 'error');

CREATE TABLE organizations (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX organizations_name_unique_idx ON organizations (lower(name));

CREATE TABLE users (
  id uuid PRIMARY KEY,
  username text NOT NULL,
  email text NOT NULL,
  name text NOT NULL DEFAULT '',
  avatar_url text NOT NULL DEFAULT '',
  role user_role NOT NULL DEFAULT 'member',
  created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_username_unique_idx ON users (lower(username));

CREATE TABLE organization_members (
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_id_idx ON organization_members (user_id);

-- A Coder API key is "<id>-<secret>"; only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  hashed_secret bytea NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE templates (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  icon text NOT NULL DEFAULT '',
  active_version_id uuid,
  created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX templates_organization_id_name_unique_idx ON templates (organization_id, lower(name));

CREATE TABLE template_versions (
  id uuid PRIMARY KEY,
  template_id uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  has_ai_task boolean,
  app_url text NOT NULL DEFAULT '',
  agent_command text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL
);
CREATE INDEX template_versions_template_id_idx ON template_versions (template_id);
ALTER TABLE templates ADD CONSTRAINT templates_active_version_id_fkey
  FOREIGN KEY (active_version_id) REFERENCES template_versions (id) ON DELETE SET NULL;

CREATE TABLE workspaces (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  template_id uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
  name text NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX workspaces_owner_id_name_unique_idx ON workspaces (owner_id, lower(name)) WHERE deleted = false;

-- One row per build job; instances acquire pending jobs with FOR UPDATE SKIP LOCKED.
CREATE TABLE provisioner_jobs (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  job_status provisioner_job_status NOT NULL DEFAULT 'pending',
  worker_id text,
  error text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  started_at timestamptz,
  completed_at timestamptz
);
CREATE INDEX provisioner_jobs_pending_idx ON provisioner_jobs (created_at) WHERE job_status IN ('pending', 'running');

CREATE TABLE workspace_builds (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
  build_number integer NOT NULL,
  transition workspace_transition NOT NULL,
  reason build_reason NOT NULL DEFAULT 'initiator',
  initiator_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  job_id uuid NOT NULL UNIQUE REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  UNIQUE (workspace_id, build_number)
);

-- Agent tokens are UUIDs; only their SHA-256 is kept.
CREATE TABLE workspace_agents (
  id uuid PRIMARY KEY,
  workspace_build_id uuid NOT NULL REFERENCES workspace_builds (id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT 'main',
  auth_token_hash bytea NOT NULL,
  lifecycle_state workspace_agent_lifecycle_state NOT NULL DEFAULT 'created',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX workspace_agents_auth_token_hash_idx ON workspace_agents (auth_token_hash);
CREATE INDEX workspace_agents_workspace_build_id_idx ON workspace_agents (workspace_build_id);

CREATE TABLE workspace_apps (
  id uuid PRIMARY KEY,
  agent_id uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
  slug text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  url text NOT NULL DEFAULT '',
  health workspace_app_health NOT NULL DEFAULT 'disabled',
  created_at timestamptz NOT NULL,
  UNIQUE (agent_id, slug)
);

CREATE TABLE workspace_app_statuses (
  id uuid PRIMARY KEY,
  created_at timestamptz NOT NULL,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  agent_id uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
  app_id uuid NOT NULL REFERENCES workspace_apps (id) ON DELETE CASCADE,
  state workspace_app_status_state NOT NULL,
  message text NOT NULL DEFAULT '',
  uri text NOT NULL DEFAULT ''
);
CREATE INDEX workspace_app_statuses_workspace_id_created_at_idx ON workspace_app_statuses (workspace_id, created_at DESC);

-- Coder's tasks table (spec §8.1), limited to the columns taskd uses.
CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  workspace_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
  template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
  template_parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
  prompt text NOT NULL,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz,
  display_name varchar(127) NOT NULL DEFAULT ''
);
COMMENT ON COLUMN tasks.display_name IS 'Display name is a custom, human-friendly task name.';
CREATE INDEX tasks_organization_id_idx ON tasks (organization_id);
CREATE INDEX tasks_owner_id_idx ON tasks (owner_id);
CREATE UNIQUE INDEX tasks_owner_id_name_unique_idx ON tasks (owner_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX tasks_workspace_id_idx ON tasks (workspace_id);
CREATE INDEX tasks_created_at_idx ON tasks (created_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE task_workspace_apps (
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  workspace_agent_id uuid REFERENCES workspace_agents (id) ON DELETE CASCADE,
  workspace_app_id uuid REFERENCES workspace_apps (id) ON DELETE CASCADE,
  workspace_build_number integer NOT NULL,
  PRIMARY KEY (task_id, workspace_build_number)
);

CREATE TABLE task_snapshots (
  task_id uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
  log_snapshot jsonb NOT NULL,
  log_snapshot_created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE task_snapshots IS 'Stores snapshots of task state when paused, currently limited to conversation history.';
COMMENT ON COLUMN task_snapshots.log_snapshot_created_at IS 'When this log snapshot was captured.';

-- Task status as Coder computes it (spec §5.1), from the latest task_workspace_apps row of each task.
CREATE VIEW tasks_with_status AS
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
  task_owner.owner_username,
  task_owner.owner_name,
  task_owner.owner_avatar_url
FROM tasks
CROSS JOIN LATERAL (
  SELECT u.username AS owner_username, u.name AS owner_name, u.avatar_url AS owner_avatar_url
  FROM users u WHERE u.id = tasks.owner_id
) task_owner
LEFT JOIN LATERAL (
  SELECT twa.workspace_build_number, twa.workspace_agent_id, twa.workspace_app_id
  FROM task_workspace_apps twa WHERE twa.task_id = tasks.id
  ORDER BY twa.workspace_build_number DESC LIMIT 1
) task_app ON TRUE
LEFT JOIN LATERAL (
  SELECT wb.transition, pj.job_status
  FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
  WHERE wb.workspace_id = tasks.workspace_id AND wb.build_number = task_app.workspace_build_number
) latest_build_raw ON TRUE
LEFT JOIN LATERAL (
  SELECT wa.lifecycle_state FROM workspace_agents wa WHERE wa.id = task_app.workspace_agent_id
) agent_raw ON TRUE
LEFT JOIN LATERAL (
  SELECT app.health FROM workspace_apps app WHERE app.id = task_app.workspace_app_id
) app_raw ON TRUE
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
