-- The taskd instances that run provisioner jobs, and their heartbeats. A running job belongs to the
-- instance that claimed it (provisioner_jobs.instance_id). Another instance takes the job over as soon as
-- it can know the owner is gone: the owner shut down cleanly (stopped_at, and it put its jobs back to
-- pending), or its last heartbeat is older than the timeout it announced (stale_after: killed, frozen or
-- cut off from the database). TASKD_JOB_TIMEOUT (the job's own heartbeat) stays as a backstop.
-- No foreign key: a job may name an instance whose row was cleaned up, which then counts as gone.
CREATE TABLE taskd_instances (
  id uuid PRIMARY KEY,
  hostname text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  stale_after interval NOT NULL,
  stopped_at timestamptz
);

ALTER TABLE provisioner_jobs ADD COLUMN instance_id uuid;
