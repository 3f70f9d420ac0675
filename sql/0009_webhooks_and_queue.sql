-- Webhooks and queued input (issue 15).
--
-- Webhook events are generated in the transaction of the change they announce, by a trigger on
-- task_streams (sql/0008), which holds each task's announced state (task_fingerprint: status first, then
-- the current app status's state, message, uri, time...), its deletion and the agent's status. One
-- delivery row per matching webhook; instances claim due deliveries as they claim provisioner jobs
-- (FOR UPDATE SKIP LOCKED, takeover from instances that are gone, sql/0006), never a task's later delivery
-- to a webhook while an earlier one to that webhook is unfinished.
--
-- Queued input: messages for a task's agent, delivered in order, one at a time, when the agent is stable.
-- Each change of a queued message's announced state (queued, sent, cancelled) is a change of its task:
-- it takes the task's next change number (task_streams.seq), kept in the message's `seq`, and notifies
-- 'taskd_task_changes', so that the task's event stream can say `event: queue`.

-- A webhook belongs to a user (their tasks) or, registered by an owner, to an organization (every task of
-- it). The secret signs deliveries: AES-256-GCM ciphertext (with its tag appended) and nonce, under
-- TASKD_SECRET_KEY (src/Webhooks/Secrets.ts).
CREATE TABLE webhooks (
  id uuid PRIMARY KEY,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
  url text NOT NULL,
  events text[] NOT NULL,
  secret_ciphertext bytea NOT NULL,
  secret_nonce bytea NOT NULL,
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL,
  CHECK ((user_id IS NULL) <> (organization_id IS NULL))
);
CREATE INDEX webhooks_user_id_idx ON webhooks (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX webhooks_organization_id_idx ON webhooks (organization_id) WHERE organization_id IS NOT NULL;

-- One event for one webhook. `n` orders a task's deliveries; `id` is the delivery's id on the wire, the
-- same on every attempt. `body` is the exact JSON sent, frozen at the first attempt (retries send the same
-- bytes). States: pending (due at next_attempt_at), delivering (claimed by instance_id), delivered, failed.
CREATE TABLE webhook_deliveries (
  n bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  event text NOT NULL,
  created_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  instance_id uuid,
  claimed_at timestamptz,
  body text,
  last_status integer,
  last_error text,
  finished_at timestamptz
);
CREATE INDEX webhook_deliveries_unfinished_idx ON webhook_deliveries (next_attempt_at)
  WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, task_id, n)
  WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, n DESC);
CREATE INDEX webhook_deliveries_task_idx ON webhook_deliveries (task_id);

-- A delivery of `p_event` to every webhook that wants it: the task owner's, and its organization's.
CREATE FUNCTION taskd_enqueue_webhook_event(p_task uuid, p_owner uuid, p_org uuid, p_event text) RETURNS void
LANGUAGE sql VOLATILE AS $$
  INSERT INTO webhook_deliveries (id, webhook_id, task_id, event, created_at, next_attempt_at)
  SELECT gen_random_uuid(), w.id, p_task, p_event, now(), now()
  FROM webhooks w
  WHERE (w.user_id = p_owner OR w.organization_id = p_org) AND p_event = ANY (w.events)
  ORDER BY w.id
$$;

-- The events of one announced change of a task (see the README's "Webhooks" for their meaning).
CREATE FUNCTION taskd_task_stream_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_old_status text;
  v_new_status text;
  v_old_state text;
  v_new_state text;
  v_old_at text;
  v_new_at text;
  v_failed boolean := false;
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT NEW.deleted THEN
      PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.created');
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.deleted THEN
    IF NOT OLD.deleted THEN
      PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.deleted');
      -- Deleting a task drops its queue.
      UPDATE task_queue SET state = 'cancelled', instance_id = NULL
        WHERE task_id = NEW.task_id AND state IN ('queued', 'sending');
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.task_fingerprint IS DISTINCT FROM OLD.task_fingerprint THEN
    v_old_status := split_part(OLD.task_fingerprint, E'\x1f', 1);
    v_new_status := split_part(NEW.task_fingerprint, E'\x1f', 1);
    v_old_state := split_part(OLD.task_fingerprint, E'\x1f', 2);
    v_new_state := split_part(NEW.task_fingerprint, E'\x1f', 2);
    v_old_at := split_part(OLD.task_fingerprint, E'\x1f', 5);
    v_new_at := split_part(NEW.task_fingerprint, E'\x1f', 5);
    -- '' is a row created before any announcement (sql/0008 gave existing tasks one): no change to report.
    IF v_old_status <> '' AND v_new_status IS DISTINCT FROM v_old_status THEN
      PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.status_changed');
      IF v_new_status = 'error' THEN
        v_failed := true;
      END IF;
    END IF;
    -- A new app status report (its time changed).
    IF v_new_at <> '' AND v_new_at IS DISTINCT FROM v_old_at THEN
      IF v_new_state = 'idle' AND v_old_state = 'working' THEN
        PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.needs_input');
      ELSIF v_new_state = 'complete' THEN
        PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.completed');
      ELSIF v_new_state = 'failure' THEN
        v_failed := true;
      END IF;
    END IF;
    IF v_failed THEN
      PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.failed');
    END IF;
  END IF;
  IF OLD.agent_status = 'running' AND NEW.agent_status = 'stable' THEN
    PERFORM taskd_enqueue_webhook_event(NEW.task_id, NEW.owner_id, NEW.organization_id, 'task.needs_input');
  END IF;
  RETURN NULL;
END
$$;

-- Messages queued for a task's agent. `n` orders them. States: queued (waiting for the agent), sending
-- (claimed by instance_id; `agent_last_id` is the id of agentapi's last message before the send, which
-- decides after a crash whether it was sent), sent, cancelled. `seq` is the task's change number of the
-- message's latest announced state; `sent_agent_seq` the agent status change number seen when it was sent
-- (the next message waits for a newer "stable").
CREATE TABLE task_queue (
  n bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  input text NOT NULL,
  created_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'cancelled')),
  next_attempt_at timestamptz NOT NULL,
  instance_id uuid,
  claimed_at timestamptz,
  agent_last_id bigint,
  sent_at timestamptz,
  sent_agent_seq bigint,
  seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX task_queue_unfinished_idx ON task_queue (task_id, n) WHERE state IN ('queued', 'sending');
CREATE INDEX task_queue_task_seq_idx ON task_queue (task_id, seq);

-- The state a queued message shows: a claim in progress is still "queued".
CREATE FUNCTION taskd_queue_announced(p_state text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_state WHEN 'sending' THEN 'queued' ELSE p_state END
$$;

CREATE FUNCTION taskd_task_queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
BEGIN
  IF TG_OP = 'INSERT' OR taskd_queue_announced(NEW.state) <> taskd_queue_announced(OLD.state) THEN
    UPDATE task_streams
      SET seq = seq + 1, change_id = nextval('task_change_ids')
      WHERE task_id = NEW.task_id
      RETURNING seq INTO v_seq;
    IF v_seq IS NOT NULL THEN
      NEW.seq := v_seq;
      PERFORM pg_notify('taskd_task_changes', NEW.task_id::text);
    END IF;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER taskd_task_queue_changed BEFORE INSERT OR UPDATE OF state ON task_queue
  FOR EACH ROW EXECUTE FUNCTION taskd_task_queue_changed();

CREATE TRIGGER taskd_task_stream_events AFTER INSERT OR UPDATE ON task_streams
  FOR EACH ROW EXECUTE FUNCTION taskd_task_stream_events();
