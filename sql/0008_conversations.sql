-- Live conversations (issue 12): every message of a task's agent kept, and every change of a task numbered,
-- so that clients can page the whole history and follow it live, resuming where they left off.
--
-- Each change of a task gets the next number of that task's sequence (task_streams.seq): a message that
-- appears or whose text changes, the agent's status, and the task's own state (status, current_state,
-- prompt, deletion). Each changed thing keeps the number of its latest change, so "every change above N"
-- is one indexed read, with each message at its latest text. A change also takes a number from one global
-- sequence (change_id), by which an instance finds the tasks that changed since it last looked, and
-- notifies 'taskd_task_changes' with the task id, delivered to listeners when the change commits.

CREATE SEQUENCE task_change_ids;

-- One row per task, created with the task.
CREATE TABLE task_streams (
  task_id uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL,
  organization_id uuid NOT NULL,
  -- The number of the task's latest change (0: none yet).
  seq bigint NOT NULL DEFAULT 0,
  -- The global number of the task's latest change, of any kind.
  change_id bigint NOT NULL,
  -- The task's own state as last announced (status, current_state, prompt), the number of that change
  -- and its global number.
  task_fingerprint text NOT NULL DEFAULT '',
  task_seq bigint NOT NULL DEFAULT 0,
  task_change_id bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  -- The agent's status as agentapi last reported it ('running', 'stable'), and the number of that change.
  agent_status text,
  agent_seq bigint NOT NULL DEFAULT 0,
  -- The agentapi conversation messages are being recorded in (0: none yet), and the highest position
  -- given to a message so far.
  epoch integer NOT NULL DEFAULT 0,
  last_position bigint NOT NULL DEFAULT 0,
  -- The instance recording the agent's events, claimed like provisioner jobs (taskd_instances).
  recorder_instance uuid,
  recorder_claimed_at timestamptz
);
CREATE INDEX task_streams_change_id_idx ON task_streams (change_id);
CREATE INDEX task_streams_task_change_id_idx ON task_streams (task_change_id);
CREATE INDEX task_streams_recorder_instance_idx ON task_streams (recorder_instance) WHERE recorder_instance IS NOT NULL;
-- The tasks that need a recorder (their agent runs, or is starting), for the recorder supervisors' scan
-- every few seconds on every instance (src/Conversations/RecorderRepo.ts repeats this condition word for
-- word, so that the planner uses it).
CREATE INDEX task_streams_recordable_idx ON task_streams (task_id)
  WHERE NOT deleted AND split_part(task_fingerprint, chr(31), 1) IN ('active', 'initializing');

-- The agentapi conversations of a task, in order. agentapi numbers messages from 0 in each of its
-- processes; a process that restores its predecessor's conversation continues the same epoch, one that
-- starts afresh opens the next. Epoch e's message with agentapi id i sits at position base(e) + i + 1, so
-- a message missed while it happened (taskd was down) keeps its place when a snapshot or a later replay
-- brings it.
CREATE TABLE task_epochs (
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  epoch integer NOT NULL,
  base bigint NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (task_id, epoch)
);

CREATE TABLE task_messages (
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  -- taskd's id of the message: its position in the task's whole history, stable forever.
  position bigint NOT NULL,
  epoch integer NOT NULL,
  agent_message_id bigint NOT NULL,
  role text NOT NULL,
  content text NOT NULL,
  -- The agent's time of the message, as agentapi wrote it (RFC 3339, Go's form).
  agent_time text NOT NULL,
  updated_at timestamptz NOT NULL,
  -- The number of the change that gave the message its current text.
  seq bigint NOT NULL,
  PRIMARY KEY (task_id, position)
);
CREATE INDEX task_messages_task_id_seq_idx ON task_messages (task_id, seq);

-- Lookups of the triggers below.
CREATE INDEX task_workspace_apps_workspace_agent_id_idx ON task_workspace_apps (workspace_agent_id);
CREATE INDEX task_workspace_apps_workspace_app_id_idx ON task_workspace_apps (workspace_app_id);
CREATE INDEX workspace_builds_job_id_idx ON workspace_builds (job_id);

-- Announces the task's own state when it differs from what was last announced: status, current_state
-- (the latest app status), the prompt, deletion.
CREATE FUNCTION taskd_note_task_change(p_task uuid) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_owner uuid;
  v_org uuid;
  v_deleted boolean;
  v_fingerprint text;
  r record;
BEGIN
  SELECT t.owner_id, t.organization_id, t.deleted_at IS NOT NULL INTO v_owner, v_org, v_deleted
  FROM tasks t WHERE t.id = p_task;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_deleted THEN
    v_fingerprint := 'deleted';
  ELSE
    SELECT * INTO r FROM task_row_by_id(p_task);
    v_fingerprint := concat_ws(E'\x1f', r.status::text, r.app_status_state::text, r.app_status_message,
      r.app_status_uri, r.app_status_created_at::text, md5(r.prompt), r.workspace_id::text);
  END IF;
  INSERT INTO task_streams AS s (task_id, owner_id, organization_id, seq, change_id, task_fingerprint,
    task_seq, task_change_id, deleted)
  VALUES (p_task, v_owner, v_org, 1, nextval('task_change_ids'), v_fingerprint, 1, currval('task_change_ids'),
    v_deleted)
  ON CONFLICT (task_id) DO UPDATE
    SET seq = s.seq + 1, change_id = EXCLUDED.change_id, task_fingerprint = EXCLUDED.task_fingerprint,
      task_seq = s.seq + 1, task_change_id = EXCLUDED.change_id, deleted = EXCLUDED.deleted
    WHERE s.task_fingerprint IS DISTINCT FROM EXCLUDED.task_fingerprint;
  IF FOUND THEN
    PERFORM pg_notify('taskd_task_changes', p_task::text);
  END IF;
END
$$;

-- The triggers: each change that can alter a task's status or current_state (sql/0002 says how they are
-- computed) re-announces the tasks it concerns. Row triggers on rows written one or a few at a time.
CREATE FUNCTION taskd_tasks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM taskd_note_task_change(NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_tasks_changed AFTER INSERT OR UPDATE OF deleted_at, workspace_id, prompt ON tasks
  FOR EACH ROW EXECUTE FUNCTION taskd_tasks_changed();

CREATE FUNCTION taskd_task_workspace_apps_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM taskd_note_task_change(NEW.task_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_task_workspace_apps_changed AFTER INSERT OR UPDATE ON task_workspace_apps
  FOR EACH ROW EXECUTE FUNCTION taskd_task_workspace_apps_changed();

CREATE FUNCTION taskd_workspace_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM taskd_note_task_change(t.id) FROM tasks t WHERE t.workspace_id = NEW.workspace_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_workspace_builds_changed AFTER INSERT ON workspace_builds
  FOR EACH ROW EXECUTE FUNCTION taskd_workspace_changed();
CREATE TRIGGER taskd_workspace_app_statuses_changed AFTER INSERT ON workspace_app_statuses
  FOR EACH ROW EXECUTE FUNCTION taskd_workspace_changed();

CREATE FUNCTION taskd_provisioner_job_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM taskd_note_task_change(t.id)
  FROM workspace_builds wb JOIN tasks t ON t.workspace_id = wb.workspace_id
  WHERE wb.job_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_provisioner_job_changed AFTER UPDATE OF job_status ON provisioner_jobs
  FOR EACH ROW WHEN (OLD.job_status IS DISTINCT FROM NEW.job_status)
  EXECUTE FUNCTION taskd_provisioner_job_changed();

CREATE FUNCTION taskd_workspace_agent_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM taskd_note_task_change(twa.task_id) FROM task_workspace_apps twa WHERE twa.workspace_agent_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_workspace_agent_changed AFTER UPDATE OF lifecycle_state ON workspace_agents
  FOR EACH ROW WHEN (OLD.lifecycle_state IS DISTINCT FROM NEW.lifecycle_state)
  EXECUTE FUNCTION taskd_workspace_agent_changed();

CREATE FUNCTION taskd_workspace_app_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM taskd_note_task_change(twa.task_id) FROM task_workspace_apps twa WHERE twa.workspace_app_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_workspace_app_changed AFTER UPDATE OF health, url ON workspace_apps
  FOR EACH ROW WHEN (OLD.health IS DISTINCT FROM NEW.health OR OLD.url IS DISTINCT FROM NEW.url)
  EXECUTE FUNCTION taskd_workspace_app_changed();

-- Whether `p_other` is the text `p_stored` of a message, as a snapshot may carry it: the same, or either of
-- them cut to its last characters behind the prefix of the snapshot's trimming (src/AgentApi/Trim.ts,
-- Coder's shutdown script: a single message over 64 KiB keeps its last 56 KiB).
CREATE FUNCTION taskd_same_text(p_stored text, p_other text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_prefix constant text := E'[...content truncated, showing last 56KB...]\n\n';
  v_cut text;
  v_whole text;
BEGIN
  IF p_stored = p_other THEN
    RETURN true;
  ELSIF starts_with(p_other, v_prefix) THEN
    v_cut := p_other;
    v_whole := p_stored;
  ELSIF starts_with(p_stored, v_prefix) THEN
    v_cut := p_stored;
    v_whole := p_other;
  ELSE
    RETURN false;
  END IF;
  v_cut := substr(v_cut, length(v_prefix) + 1);
  RETURN length(v_cut) > 0 AND length(v_whole) >= length(v_cut) AND right(v_whole, length(v_cut)) = v_cut;
END
$$;

-- Records messages of one agentapi process, `p_messages` being a JSON array of {id, role, content, time}
-- (ids unique, 0 <= id < 2^31; roles 'user' or 'agent'). Returns the epoch they went to. The modes:
-- - 'live': messages of the process being followed in epoch p_epoch; each is stored as it comes.
-- - 'replay': everything a process has, as agentapi replays it on connect. It continues the current epoch
--   when every message recorded there comes back unchanged (the last one may have grown while the agent
--   was running: it was not final), else it opens the next epoch (a fresh process).
-- - 'snapshot': the last messages of a process (a snapshot upload). It continues the current epoch when
--   the messages it shares with it match (as above) and it shares some or only follows them, else it
--   opens the next epoch.
-- A message is written only when it is new or its text changed; each write is one change of the task.
CREATE FUNCTION taskd_record_messages(p_task uuid, p_messages jsonb, p_mode text, p_epoch integer,
  p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s task_streams%ROWTYPE;
  v_epoch integer;
  v_base bigint;
  v_last_id bigint;
  v_settled boolean;
  v_mismatched integer;
  v_missing integer;
  v_shared integer;
  v_first_id bigint;
  v_same boolean;
  v_seq bigint;
  v_max_position bigint;
  m record;
BEGIN
  SELECT * INTO s FROM task_streams WHERE task_id = p_task FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  v_seq := s.seq;
  v_max_position := s.last_position;

  IF p_mode = 'live' AND p_epoch = s.epoch THEN
    v_epoch := s.epoch;
  ELSIF p_mode = 'live' THEN
    -- A recorder following a process whose epoch is no longer the current one writes nothing.
    RETURN s.epoch;
  ELSE
    v_epoch := s.epoch;
    v_same := s.epoch > 0;
    IF v_same THEN
      SELECT max(agent_message_id) INTO v_last_id FROM task_messages WHERE task_id = p_task AND epoch = s.epoch;
      v_settled := s.agent_status IS DISTINCT FROM 'running';
      IF v_last_id IS NOT NULL THEN
        SELECT count(*) INTO v_mismatched
        FROM task_messages old
        JOIN jsonb_to_recordset(p_messages) AS x(id bigint, role text, content text) ON x.id = old.agent_message_id
        WHERE old.task_id = p_task AND old.epoch = s.epoch
          AND (x.role <> old.role OR (NOT taskd_same_text(old.content, x.content)
            AND NOT (old.agent_message_id = v_last_id AND old.role = 'agent' AND NOT v_settled)));
        SELECT count(*) INTO v_shared
        FROM task_messages old
        JOIN jsonb_to_recordset(p_messages) AS x(id bigint) ON x.id = old.agent_message_id
        WHERE old.task_id = p_task AND old.epoch = s.epoch;
        IF p_mode = 'replay' THEN
          SELECT count(*) INTO v_missing FROM task_messages WHERE task_id = p_task AND epoch = s.epoch;
          v_same := v_mismatched = 0 AND v_shared = v_missing;
        ELSE
          SELECT min(x.id) INTO v_first_id FROM jsonb_to_recordset(p_messages) AS x(id bigint);
          v_same := v_mismatched = 0 AND (v_shared > 0 OR v_first_id IS NULL OR v_first_id > v_last_id);
        END IF;
      END IF;
    END IF;
    IF NOT v_same THEN
      IF p_mode = 'snapshot' AND jsonb_array_length(p_messages) = 0 THEN
        RETURN s.epoch;
      END IF;
      v_epoch := s.epoch + 1;
      INSERT INTO task_epochs (task_id, epoch, base, created_at) VALUES (p_task, v_epoch, s.last_position, p_now);
    END IF;
  END IF;

  SELECT base INTO v_base FROM task_epochs WHERE task_id = p_task AND epoch = v_epoch;
  FOR m IN
    SELECT x.id, x.role, x.content, x.time
    FROM jsonb_to_recordset(p_messages) AS x(id bigint, role text, content text, time text)
    ORDER BY x.id
  LOOP
    UPDATE task_messages
      SET role = m.role, content = m.content, agent_time = m.time, updated_at = p_now, seq = v_seq + 1
      WHERE task_id = p_task AND position = v_base + m.id + 1
        AND (role <> m.role OR (content <> m.content
          -- A snapshot's cut copy of a message never replaces its whole text (a replay's whole text does
          -- replace a cut copy).
          AND NOT (p_mode = 'snapshot' AND taskd_same_text(content, m.content))));
    IF NOT FOUND THEN
      INSERT INTO task_messages (task_id, position, epoch, agent_message_id, role, content, agent_time,
        updated_at, seq)
      VALUES (p_task, v_base + m.id + 1, v_epoch, m.id, m.role, m.content, m.time, p_now, v_seq + 1)
      ON CONFLICT (task_id, position) DO NOTHING;
    END IF;
    IF FOUND THEN
      v_seq := v_seq + 1;
      v_max_position := greatest(v_max_position, v_base + m.id + 1);
    END IF;
  END LOOP;

  IF v_seq <> s.seq OR v_epoch <> s.epoch THEN
    UPDATE task_streams
      SET seq = v_seq, change_id = nextval('task_change_ids'), epoch = v_epoch, last_position = v_max_position
      WHERE task_id = p_task;
    IF v_seq <> s.seq THEN
      PERFORM pg_notify('taskd_task_changes', p_task::text);
    END IF;
  END IF;
  RETURN v_epoch;
END
$$;

-- The agent's status as agentapi reports it; a change when it differs.
CREATE FUNCTION taskd_record_agent_status(p_task uuid, p_status text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE task_streams
    SET seq = seq + 1, agent_seq = seq + 1, agent_status = p_status, change_id = nextval('task_change_ids')
    WHERE task_id = p_task AND agent_status IS DISTINCT FROM p_status;
  IF FOUND THEN
    PERFORM pg_notify('taskd_task_changes', p_task::text);
  END IF;
  RETURN FOUND;
END
$$;

-- A snapshot upload fills in what the recorder missed (an agent that ran while taskd was down), as the
-- last messages of the process that uploaded it.
CREATE FUNCTION taskd_task_snapshot_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The upload holds the task's row (FOR SHARE); a delete or a build of the task in flight may hold its
  -- stream row and wait for the task's: waiting here would deadlock. Such an upload skips the merge (the
  -- snapshot itself is stored): a change of the task is under way, and a recorder writing holds the row
  -- because it has the messages.
  PERFORM 1 FROM task_streams WHERE task_id = NEW.task_id FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF NEW.log_snapshot->>'format' = 'agentapi' AND jsonb_typeof(NEW.log_snapshot->'data'->'messages') = 'array' THEN
    PERFORM taskd_record_messages(
      NEW.task_id,
      COALESCE((
        SELECT jsonb_agg(jsonb_build_object('id', (x->>'id')::bigint, 'role', x->>'role',
          'content', x->>'content', 'time', x->>'time') ORDER BY (x->>'id')::bigint)
        FROM jsonb_array_elements(NEW.log_snapshot->'data'->'messages') AS x
        WHERE x->>'role' IN ('user', 'agent') AND jsonb_typeof(x->'id') = 'number'
          AND (x->>'id')::numeric >= 0 AND (x->>'id')::numeric < 2147483648
      ), '[]'::jsonb),
      'snapshot', NULL, now());
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER taskd_task_snapshot_stored AFTER INSERT ON task_snapshots
  FOR EACH ROW EXECUTE FUNCTION taskd_task_snapshot_stored();
-- An agent that uploads the same snapshot again (a retry) has nothing to fill in: no merge.
CREATE TRIGGER taskd_task_snapshot_changed AFTER UPDATE OF log_snapshot ON task_snapshots
  FOR EACH ROW WHEN (OLD.log_snapshot IS DISTINCT FROM NEW.log_snapshot)
  EXECUTE FUNCTION taskd_task_snapshot_stored();

-- Tasks that exist already get their stream row, as of now.
INSERT INTO task_streams (task_id, owner_id, organization_id, change_id, task_change_id, deleted)
SELECT t.id, t.owner_id, t.organization_id, nextval('task_change_ids'), currval('task_change_ids'),
  t.deleted_at IS NOT NULL
FROM tasks t;
