/**
 * Fixtures. Users, keys and templates are made through the API; workspaces, builds and agents are written
 * directly, in the shape the provisioner writes them, for states no endpoint reaches yet.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import { randomBytes, randomUUID } from "node:crypto"
import { hashSecret } from "../../src/Auth/Tokens.ts"
import { bootstrap } from "../../src/Users/Bootstrap.ts"
import { clientFor } from "./TestServer.ts"

/** A name no other test in the file uses. */
export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`

/** The admin's token: bootstraps the database on first use, then issues a fresh key. */
export const adminToken = Effect.gen(function*() {
  const result = yield* bootstrap
  if (Option.isSome(result.generatedToken)) return result.generatedToken.value
  const sql = yield* SqlClient.SqlClient
  const [admin] = yield* sql<{ id: string }>`SELECT id FROM users WHERE username = 'admin'`
  const id = randomBytes(5).toString("hex")
  const secret = randomBytes(11).toString("hex")
  const now = yield* Clock.currentTimeMillis
  yield* sql`INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, created_at)
             VALUES (${id}, ${hashSecret(secret)}, ${admin!.id}, ${new Date(now + 365 * 86_400_000)}, ${new Date(now)})`
  return `${id}-${secret}`
}).pipe(Effect.orDie)

/** The keys of Coder's User JSON, sorted: what every endpoint that answers a user sends. */
export const coderUserKeys = ["avatar_url", "created_at", "email", "id", "organization_ids", "roles", "username"]

export interface TestUser {
  readonly id: string
  readonly username: string
  readonly token: string
  readonly organizationId: string
}

/** A user created through the API, with an API key issued through the API. */
export const createUser = (role: "owner" | "member" = "member") =>
  Effect.gen(function*() {
    const admin = yield* clientFor(yield* adminToken)
    const user = yield* admin.users.create({ payload: { username: uniqueName("user"), email: "u@example.com", role } })
    const { key } = yield* admin.users.createApiKey({ params: { user: user.id } })
    return { id: user.id, username: user.username, token: key, organizationId: user.organization_ids[0]! } as TestUser
  }).pipe(Effect.orDie)

/**
 * A template created through the API (an AI-task template unless `has_ai_task: false`), with any other
 * fields of the create request; returns its ids and active version. The one template fixture.
 */
export const createTemplate = (
  fields: { readonly has_ai_task?: boolean; readonly app_url?: string; readonly agent_command?: string } = {}
) =>
  Effect.gen(function*() {
    const admin = yield* clientFor(yield* adminToken)
    const template = yield* admin.templates.create({
      params: { organization: "default" },
      payload: { name: uniqueName("tpl"), ...fields }
    })
    return { templateId: template.id, versionId: template.active_version_id, organizationId: template.organization_id }
  }).pipe(Effect.orDie)

export interface TaskWorkspace {
  readonly taskId: string
  readonly name: string
  readonly workspaceId: string
  readonly agentId: string
  readonly agentToken: string
}

const insertBuild = (workspaceId: string, versionId: string, initiatorId: string, organizationId: string, build: {
  readonly transition: "start" | "stop" | "delete"
  readonly jobStatus: "pending" | "running" | "succeeded" | "failed" | "canceled"
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Clock.currentTimeMillis)
    const jobId = randomUUID()
    const buildId = randomUUID()
    yield* sql`INSERT INTO provisioner_jobs (id, organization_id, job_status, created_at, updated_at)
               VALUES (${jobId}, ${organizationId}, ${build.jobStatus}, ${now}, ${now})`
    const [{ n }] = yield* sql<{ n: number }>`SELECT COALESCE(MAX(build_number), 0) + 1 AS n
                                             FROM workspace_builds WHERE workspace_id = ${workspaceId}`
    yield* sql`INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition,
                                             initiator_id, job_id, created_at)
               VALUES (${buildId}, ${workspaceId}, ${versionId}, ${n}, ${build.transition}, ${initiatorId}, ${jobId},
                       ${now})`
    return { buildId, buildNumber: n }
  })

export interface TaskWorkspaceOptions {
  readonly appUrl?: string
  readonly appHealth?: "disabled" | "initializing" | "healthy" | "unhealthy"
  readonly lifecycle?: "created" | "starting" | "ready" | "off"
}

/** A task whose workspace has a succeeded start build with an agent (ready) and the task app (healthy). */
export const createTaskWorkspace = (
  owner: TestUser,
  template: { readonly versionId: string; readonly templateId: string },
  options: TaskWorkspaceOptions = {}
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Clock.currentTimeMillis)
    const taskId = randomUUID()
    const workspaceId = randomUUID()
    const agentId = randomUUID()
    const appId = randomUUID()
    const agentToken = randomUUID()
    const name = uniqueName("task")
    yield* sql`INSERT INTO workspaces (id, organization_id, owner_id, template_id, name, created_at, updated_at)
               VALUES (${workspaceId}, ${owner.organizationId}, ${owner.id}, ${template.templateId}, ${name}, ${now}, ${now})`
    yield* sql`INSERT INTO tasks (id, organization_id, owner_id, name, workspace_id, template_version_id, prompt, created_at)
               VALUES (${taskId}, ${owner.organizationId}, ${owner.id}, ${name}, ${workspaceId}, ${template.versionId},
                       'do the thing', ${now})`
    const { buildId, buildNumber } = yield* insertBuild(
      workspaceId,
      template.versionId,
      owner.id,
      owner.organizationId,
      {
        transition: "start",
        jobStatus: "succeeded"
      }
    )
    yield* sql`INSERT INTO workspace_agents (id, workspace_build_id, auth_token_hash, lifecycle_state, created_at, updated_at)
               VALUES (${agentId}, ${buildId}, ${hashSecret(agentToken)}, ${
      options.lifecycle ?? "ready"
    }, ${now}, ${now})`
    yield* sql`INSERT INTO workspace_apps (id, agent_id, slug, url, health, created_at)
               VALUES (${appId}, ${agentId}, 'task-app', ${options.appUrl ?? ""}, ${
      options.appHealth ?? "healthy"
    }, ${now})`
    yield* sql`INSERT INTO task_workspace_apps (task_id, workspace_build_number, workspace_agent_id, workspace_app_id)
               VALUES (${taskId}, ${buildNumber}, ${agentId}, ${appId})`
    return { taskId, name, workspaceId, agentId, agentToken } satisfies TaskWorkspace
  }).pipe(Effect.orDie)

/** Queues a build for the task's workspace, as pause (stop), resume (start) or delete would. */
export const addBuild = (
  owner: TestUser,
  task: TaskWorkspace,
  build: {
    readonly transition: "start" | "stop" | "delete"
    readonly jobStatus: "pending" | "running" | "succeeded" | "failed" | "canceled"
  }
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ template_version_id: string }>`
      SELECT template_version_id FROM tasks WHERE id = ${task.taskId}`
    const result = yield* insertBuild(task.workspaceId, row!.template_version_id, owner.id, owner.organizationId, build)
    yield* sql`INSERT INTO task_workspace_apps (task_id, workspace_build_number) VALUES (${task.taskId}, ${result.buildNumber})`
    return result
  }).pipe(Effect.orDie)

/** Sets the job status of the workspace's latest build. */
export const setLatestJobStatus = (task: TaskWorkspace, status: "pending" | "running" | "succeeded" | "failed") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE provisioner_jobs SET job_status = ${status}
               WHERE id = (SELECT job_id FROM workspace_builds WHERE workspace_id = ${task.workspaceId}
                           ORDER BY build_number DESC LIMIT 1)`
  }).pipe(Effect.orDie)

/** The stored snapshot row of a task. */
export const storedSnapshot = (taskId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ log_snapshot: unknown; log_snapshot_created_at: Date }>`
      SELECT log_snapshot, log_snapshot_created_at FROM task_snapshots WHERE task_id = ${taskId}`
    return rows[0]
  }).pipe(Effect.orDie)
