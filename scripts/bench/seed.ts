/**
 * Seed data for the benchmarks, written in SQL (generate_series) in the fixtures' shape: users with API
 * keys, an AI-task template, and tasks with workspaces, a succeeded start build, an agent (token hash),
 * the task app and task_workspace_apps. Paused tasks also get a succeeded stop build and a snapshot.
 *
 * Everything is derived from the index, so the load generator can compute tokens without reading them back.
 */
import { createHash } from "node:crypto"

export const users = 100
export const tasksPerUser = 100
export const totalTasks = users * tasksPerUser
/** Tasks 1..uploadTasks are active and have agents that upload. */
export const uploadTasks = 64
/** The next pausedTasks tasks are paused and have a snapshot (for GET logs). */
export const pausedTasks = 64

/** The owner's bootstrap token (TASKD_BOOTSTRAP_TOKEN): `<10-char id>-<22-char secret>`. */
export const adminToken = "benchadmin-benchadminsecret000000"

const pad = (i: number, width: number) => String(i).padStart(width, "0")

export const username = (u: number) => `bench-u${pad(u, 3)}`
/** A member's API key: id `bk<8 digits>`, secret `benchsecret<11 digits>`. */
export const userToken = (u: number) => `bk${pad(u, 8)}-benchsecret${pad(u, 11)}`
/** Task i (1-based) belongs to user ((i - 1) % users) + 1. */
export const ownerOf = (i: number) => ((i - 1) % users) + 1
export const taskName = (i: number) => `bench-t${pad(i, 5)}`

const md5Uuid = (text: string) => {
  const h = createHash("md5").update(text).digest("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
/** The id of task i, as the SQL below computes it: md5('task' || i)::uuid. */
export const taskId = (i: number) => md5Uuid(`task${i}`)
/** The agent token of task i: md5('agent' || i)::uuid. */
export const agentToken = (i: number) => md5Uuid(`agent${i}`)

/** The seed, as one SQL script; the organization `default` and the admin exist already (bootstrap). */
export const seedSql = `
BEGIN;
INSERT INTO users (id, username, email, role, created_at)
SELECT md5('user' || u)::uuid, 'bench-u' || lpad(u::text, 3, '0'), 'u' || u || '@example.com', 'member', now()
FROM generate_series(1, ${users}) u;
INSERT INTO organization_members (organization_id, user_id, created_at)
SELECT (SELECT id FROM organizations WHERE name = 'default'), md5('user' || u)::uuid, now()
FROM generate_series(1, ${users}) u;
INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, created_at)
SELECT 'bk' || lpad(u::text, 8, '0'), sha256(convert_to('benchsecret' || lpad(u::text, 11, '0'), 'UTF8')),
       md5('user' || u)::uuid, now() + interval '1 year', now()
FROM generate_series(1, ${users}) u;
INSERT INTO templates (id, organization_id, name, created_at)
VALUES (md5('template')::uuid, (SELECT id FROM organizations WHERE name = 'default'), 'bench', now());
INSERT INTO template_versions (id, template_id, organization_id, has_ai_task, app_url, agent_command, created_at)
VALUES (md5('version')::uuid, md5('template')::uuid, (SELECT id FROM organizations WHERE name = 'default'), true,
        '', '', now());
UPDATE templates SET active_version_id = md5('version')::uuid WHERE id = md5('template')::uuid;

CREATE TEMP TABLE bench_seed AS
SELECT i,
       md5('task' || i)::uuid AS task_id,
       md5('ws' || i)::uuid AS ws_id,
       md5('user' || (((i - 1) % ${users}) + 1))::uuid AS owner_id,
       md5('job' || i)::uuid AS job_id,
       md5('build' || i)::uuid AS build_id,
       md5('agentid' || i)::uuid AS agent_id,
       md5('app' || i)::uuid AS app_id,
       'bench-t' || lpad(i::text, 5, '0') AS name,
       timestamptz '2025-01-01T00:00:00Z' + i * interval '1 second' AS at
FROM generate_series(1, ${totalTasks}) i;

INSERT INTO workspaces (id, organization_id, owner_id, template_id, name, created_at, updated_at)
SELECT ws_id, (SELECT id FROM organizations WHERE name = 'default'), owner_id, md5('template')::uuid, name, at, at
FROM bench_seed;
INSERT INTO tasks (id, organization_id, owner_id, name, workspace_id, template_version_id, prompt, created_at)
SELECT task_id, (SELECT id FROM organizations WHERE name = 'default'), owner_id, name, ws_id,
       md5('version')::uuid, 'benchmark task ' || i, at
FROM bench_seed;
INSERT INTO provisioner_jobs (id, organization_id, job_status, created_at, updated_at, completed_at)
SELECT job_id, (SELECT id FROM organizations WHERE name = 'default'), 'succeeded', at, at, at FROM bench_seed;
INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition, initiator_id, job_id,
                              created_at)
SELECT build_id, ws_id, md5('version')::uuid, 1, 'start', owner_id, job_id, at FROM bench_seed;
INSERT INTO workspace_agents (id, workspace_build_id, auth_token_hash, lifecycle_state, created_at, updated_at)
SELECT agent_id, build_id, sha256(convert_to(md5('agent' || i)::uuid::text, 'UTF8')), 'ready', at, at
FROM bench_seed;
INSERT INTO workspace_apps (id, agent_id, slug, url, health, created_at)
SELECT app_id, agent_id, 'task-app', '', 'healthy', at FROM bench_seed;
INSERT INTO task_workspace_apps (task_id, workspace_build_number, workspace_agent_id, workspace_app_id)
SELECT task_id, 1, agent_id, app_id FROM bench_seed;

-- Paused tasks: a succeeded stop build, and a snapshot of 10 messages of about 8 KiB.
INSERT INTO provisioner_jobs (id, organization_id, job_status, created_at, updated_at, completed_at)
SELECT md5('stopjob' || i)::uuid, (SELECT id FROM organizations WHERE name = 'default'), 'succeeded', at, at, at
FROM bench_seed WHERE i > ${uploadTasks} AND i <= ${uploadTasks + pausedTasks};
INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition, initiator_id, job_id,
                              reason, created_at)
SELECT md5('stopbuild' || i)::uuid, ws_id, md5('version')::uuid, 2, 'stop', owner_id, md5('stopjob' || i)::uuid,
       'task_manual_pause', at + interval '1 minute'
FROM bench_seed WHERE i > ${uploadTasks} AND i <= ${uploadTasks + pausedTasks};
INSERT INTO task_workspace_apps (task_id, workspace_build_number)
SELECT task_id, 2 FROM bench_seed WHERE i > ${uploadTasks} AND i <= ${uploadTasks + pausedTasks};
INSERT INTO task_snapshots (task_id, log_snapshot, log_snapshot_created_at)
SELECT task_id, jsonb_build_object('format', 'agentapi', 'data', jsonb_build_object('messages', (
         SELECT jsonb_agg(jsonb_build_object(
                  'id', k, 'role', CASE WHEN k % 2 = 0 THEN 'agent' ELSE 'user' END,
                  'content', repeat('snapshot text ' || k || ' ', 55), 'time', '2025-01-01T10:00:00Z') ORDER BY k)
         FROM generate_series(0, 9) k))),
       at + interval '1 minute'
FROM bench_seed WHERE i > ${uploadTasks} AND i <= ${uploadTasks + pausedTasks};
DROP TABLE bench_seed;
COMMIT;
ANALYZE;
`

/** The AI-task template's version (no agent_command: the instant provisioner). */
export const versionId = md5Uuid("version")
