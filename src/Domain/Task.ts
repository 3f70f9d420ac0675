/**
 * The Tasks API's JSON types (codersdk.Task and friends), field for field and in Go's field order.
 * Go's `omitempty` fields are optional keys that the builders leave out when empty; nullable UUIDs are a
 * string or null.
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import { omitEmpty, withDefault } from "./Fields.ts"
import { Int64 } from "./Int64.ts"
import { Rfc3339String, Timestamp } from "./Time.ts"
import { Uuid } from "./Uuid.ts"

export const TaskStatus = Schema.Literals(["pending", "initializing", "active", "paused", "unknown", "error"])
export type TaskStatus = typeof TaskStatus.Type

/** Every task status, in `codersdk.AllTaskStatuses()` order. */
export const allTaskStatuses: ReadonlyArray<TaskStatus> = [
  "pending",
  "initializing",
  "active",
  "paused",
  "error",
  "unknown"
]

export const WorkspaceStatus = Schema.Literals([
  "pending",
  "starting",
  "running",
  "stopping",
  "stopped",
  "failed",
  "canceling",
  "canceled",
  "deleting",
  "deleted"
])
export type WorkspaceStatus = typeof WorkspaceStatus.Type

export const AgentLifecycle = Schema.Literals([
  "created",
  "starting",
  "start_timeout",
  "start_error",
  "ready",
  "shutting_down",
  "shutdown_timeout",
  "shutdown_error",
  "off"
])
export type AgentLifecycle = typeof AgentLifecycle.Type

export const AppHealth = Schema.Literals(["disabled", "initializing", "healthy", "unhealthy"])
export type AppHealth = typeof AppHealth.Type

/** What an agent reports about its app: Coder's workspace app status states. */
export const AppStatusState = Schema.Literals(["working", "idle", "complete", "failure"])
export type AppStatusState = typeof AppStatusState.Type

export const WorkspaceTransition = Schema.Literals(["start", "stop", "delete"])
export type WorkspaceTransition = typeof WorkspaceTransition.Type

export const BuildReason = Schema.Literals([
  "initiator",
  "autostart",
  "autostop",
  "task_auto_pause",
  "task_manual_pause",
  "task_resume"
])
export type BuildReason = typeof BuildReason.Type

export const ProvisionerJobStatus = Schema.Literals([
  "pending",
  "running",
  "succeeded",
  "canceling",
  "canceled",
  "failed",
  "unknown"
])
export type ProvisionerJobStatus = typeof ProvisionerJobStatus.Type

export const TaskStateEntry = Schema.Struct({
  timestamp: Timestamp,
  state: Schema.String,
  message: Schema.String,
  uri: Schema.String
}).annotate({ identifier: "TaskStateEntry" })
export type TaskStateEntry = typeof TaskStateEntry.Type

export const WorkspaceAgentHealth = Schema.Struct({
  healthy: Schema.Boolean,
  reason: omitEmpty(Schema.String)
}).annotate({ identifier: "WorkspaceAgentHealth" })

export const Task = Schema.Struct({
  id: Uuid,
  organization_id: Uuid,
  owner_id: Uuid,
  owner_name: Schema.String,
  owner_avatar_url: omitEmpty(Schema.String),
  name: Schema.String,
  display_name: Schema.String,
  template_id: Uuid,
  template_version_id: Uuid,
  template_name: Schema.String,
  template_display_name: Schema.String,
  template_icon: Schema.String,
  workspace_id: Schema.NullOr(Uuid),
  workspace_name: Schema.String,
  workspace_status: omitEmpty(WorkspaceStatus),
  workspace_build_number: omitEmpty(Schema.Int),
  workspace_agent_id: Schema.NullOr(Uuid),
  workspace_agent_lifecycle: Schema.NullOr(AgentLifecycle),
  workspace_agent_health: Schema.NullOr(WorkspaceAgentHealth),
  workspace_app_id: Schema.NullOr(Uuid),
  initial_prompt: Schema.String,
  status: TaskStatus,
  current_state: Schema.NullOr(TaskStateEntry),
  created_at: Timestamp,
  updated_at: Timestamp
}).annotate({ identifier: "Task" })
export type Task = typeof Task.Type

export const TasksListResponse = Schema.Struct({
  tasks: Schema.Array(Task),
  count: Schema.Int
}).annotate({ identifier: "TasksListResponse" })

/** Go decodes a missing UUID as the zero UUID, which then names no template version. */
export const zeroUuid = "00000000-0000-0000-0000-000000000000"

export const CreateTaskRequest = Schema.Struct({
  template_version_id: withDefault(Uuid, () => zeroUuid),
  template_version_preset_id: Schema.optional(Uuid),
  input: withDefault(Schema.String, () => ""),
  name: Schema.optional(Schema.String),
  display_name: Schema.optional(Schema.String)
}).annotate({ identifier: "CreateTaskRequest" })
export type CreateTaskRequest = typeof CreateTaskRequest.Type

export const TaskInputRequest = Schema.Struct({
  input: withDefault(Schema.String, () => "")
}).annotate({ identifier: "TaskInputRequest" })

export const TaskLogType = Schema.Literals(["input", "output"])
export type TaskLogType = typeof TaskLogType.Type

export const TaskLogEntry = Schema.Struct({
  /** agentapi's message id, an int64: written as a JSON number with all its digits. */
  id: Int64,
  content: Schema.String,
  type: TaskLogType,
  time: Rfc3339String
}).annotate({ identifier: "TaskLogEntry" })
export type TaskLogEntry = typeof TaskLogEntry.Type

export const TaskLogsResponse = Schema.Struct({
  logs: Schema.Array(TaskLogEntry),
  snapshot: omitEmpty(Schema.Boolean),
  snapshot_at: omitEmpty(Timestamp)
}).annotate({ identifier: "TaskLogsResponse" })
export type TaskLogsResponse = typeof TaskLogsResponse.Type

export const WorkspaceBuild = Schema.Struct({
  id: Uuid,
  created_at: Timestamp,
  updated_at: Timestamp,
  workspace_id: Uuid,
  workspace_name: Schema.String,
  workspace_owner_id: Uuid,
  template_version_id: Uuid,
  build_number: Schema.Int,
  transition: WorkspaceTransition,
  initiator_id: Uuid,
  reason: BuildReason,
  job_status: ProvisionerJobStatus,
  status: WorkspaceStatus
}).annotate({ identifier: "WorkspaceBuild" })
export type WorkspaceBuild = typeof WorkspaceBuild.Type

export const WorkspaceBuildResponse = Schema.Struct({
  workspace_build: WorkspaceBuild
}).annotate({ identifier: "TaskWorkspaceBuildResponse" })

/**
 * A task with its workspace, template, latest build and latest app status: one row of the `task_rows`
 * view, as src/Tasks/TaskRepo.ts reads it.
 */
export const TaskRow = Schema.Struct({
  id: Schema.String,
  organization_id: Schema.String,
  owner_id: Schema.String,
  owner_username: Schema.String,
  owner_avatar_url: Schema.String,
  name: Schema.String,
  display_name: Schema.String,
  template_version_id: Schema.String,
  prompt: Schema.String,
  created_at: Schema.Date,
  status: TaskStatus,
  workspace_id: Schema.NullOr(Schema.String),
  workspace_build_number: Schema.NullOr(Schema.Number),
  workspace_agent_id: Schema.NullOr(Schema.String),
  workspace_app_id: Schema.NullOr(Schema.String),
  workspace_agent_lifecycle_state: Schema.NullOr(AgentLifecycle),
  workspace_app_health: Schema.NullOr(AppHealth),
  template_id: Schema.NullOr(Schema.String),
  template_name: Schema.NullOr(Schema.String),
  template_display_name: Schema.NullOr(Schema.String),
  template_icon: Schema.NullOr(Schema.String),
  workspace_name: Schema.NullOr(Schema.String),
  workspace_updated_at: Schema.NullOr(Schema.Date),
  latest_build_transition: Schema.NullOr(WorkspaceTransition),
  latest_build_job_status: Schema.NullOr(ProvisionerJobStatus),
  latest_build_created_at: Schema.NullOr(Schema.Date),
  app_status_state: Schema.NullOr(Schema.String),
  app_status_message: Schema.NullOr(Schema.String),
  app_status_uri: Schema.NullOr(Schema.String),
  app_status_created_at: Schema.NullOr(Schema.Date),
  app_url: Schema.NullOr(Schema.String)
})
export type TaskRow = typeof TaskRow.Type

/**
 * The task a `{user}/{task}` path names, resolved as Coder's ExtractTaskParam does (spec §2.2) by the
 * tasks endpoints' middleware (declared in src/Api.ts as `TaskParam`) before any body is read.
 */
export class CurrentTask extends Context.Service<CurrentTask, TaskRow>()("taskd/CurrentTask") {}
