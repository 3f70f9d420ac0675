/**
 * The Tasks API's JSON types (codersdk.Task and friends), field for field and in Go's field order.
 * Go's `omitempty` fields are optional keys that the builders leave out when empty; nullable UUIDs are a
 * string or null.
 */
import * as Schema from "effect/Schema"
import { Rfc3339String, Timestamp } from "./Time.ts"

export const TaskStatus = Schema.Literal("pending", "initializing", "active", "paused", "unknown", "error")
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

export const WorkspaceStatus = Schema.Literal(
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
)
export type WorkspaceStatus = typeof WorkspaceStatus.Type

export const AgentLifecycle = Schema.Literal(
  "created",
  "starting",
  "start_timeout",
  "start_error",
  "ready",
  "shutting_down",
  "shutdown_timeout",
  "shutdown_error",
  "off"
)
export type AgentLifecycle = typeof AgentLifecycle.Type

export const AppHealth = Schema.Literal("disabled", "initializing", "healthy", "unhealthy")
export type AppHealth = typeof AppHealth.Type

/** What an agent reports about its app: Coder's workspace app status states. */
export const AppStatusState = Schema.Literal("working", "idle", "complete", "failure")
export type AppStatusState = typeof AppStatusState.Type

export const WorkspaceTransition = Schema.Literal("start", "stop", "delete")
export type WorkspaceTransition = typeof WorkspaceTransition.Type

export const BuildReason = Schema.Literal(
  "initiator",
  "autostart",
  "autostop",
  "task_auto_pause",
  "task_manual_pause",
  "task_resume"
)
export type BuildReason = typeof BuildReason.Type

export const ProvisionerJobStatus = Schema.Literal(
  "pending",
  "running",
  "succeeded",
  "canceling",
  "canceled",
  "failed",
  "unknown"
)
export type ProvisionerJobStatus = typeof ProvisionerJobStatus.Type

export const TaskStateEntry = Schema.Struct({
  timestamp: Timestamp,
  state: Schema.String,
  message: Schema.String,
  uri: Schema.String
}).annotations({ identifier: "TaskStateEntry" })
export type TaskStateEntry = typeof TaskStateEntry.Type

export const WorkspaceAgentHealth = Schema.Struct({
  healthy: Schema.Boolean,
  reason: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "WorkspaceAgentHealth" })

const omitEmpty = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

export const Task = Schema.Struct({
  id: Schema.UUID,
  organization_id: Schema.UUID,
  owner_id: Schema.UUID,
  owner_name: Schema.String,
  owner_avatar_url: omitEmpty(Schema.String),
  name: Schema.String,
  display_name: Schema.String,
  template_id: Schema.UUID,
  template_version_id: Schema.UUID,
  template_name: Schema.String,
  template_display_name: Schema.String,
  template_icon: Schema.String,
  workspace_id: Schema.NullOr(Schema.UUID),
  workspace_name: Schema.String,
  workspace_status: omitEmpty(WorkspaceStatus),
  workspace_build_number: omitEmpty(Schema.Int),
  workspace_agent_id: Schema.NullOr(Schema.UUID),
  workspace_agent_lifecycle: Schema.NullOr(AgentLifecycle),
  workspace_agent_health: Schema.NullOr(WorkspaceAgentHealth),
  workspace_app_id: Schema.NullOr(Schema.UUID),
  initial_prompt: Schema.String,
  status: TaskStatus,
  current_state: Schema.NullOr(TaskStateEntry),
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "Task" })
export type Task = typeof Task.Type

export const TasksListResponse = Schema.Struct({
  tasks: Schema.Array(Task),
  count: Schema.Int
}).annotations({ identifier: "TasksListResponse" })

/** Go decodes a missing UUID as the zero UUID, which then names no template version. */
export const zeroUuid = "00000000-0000-0000-0000-000000000000"

export const CreateTaskRequest = Schema.Struct({
  template_version_id: Schema.optionalWith(Schema.UUID, { default: () => zeroUuid }),
  template_version_preset_id: Schema.optional(Schema.UUID),
  input: Schema.optionalWith(Schema.String, { default: () => "" }),
  name: Schema.optional(Schema.String),
  display_name: Schema.optional(Schema.String)
}).annotations({ identifier: "CreateTaskRequest" })
export type CreateTaskRequest = typeof CreateTaskRequest.Type

export const TaskInputRequest = Schema.Struct({
  input: Schema.optionalWith(Schema.String, { default: () => "" })
}).annotations({ identifier: "TaskInputRequest" })

export const TaskLogType = Schema.Literal("input", "output")
export type TaskLogType = typeof TaskLogType.Type

export const TaskLogEntry = Schema.Struct({
  id: Schema.Int,
  content: Schema.String,
  type: TaskLogType,
  time: Rfc3339String
}).annotations({ identifier: "TaskLogEntry" })
export type TaskLogEntry = typeof TaskLogEntry.Type

export const TaskLogsResponse = Schema.Struct({
  logs: Schema.Array(TaskLogEntry),
  snapshot: Schema.optionalWith(Schema.Boolean, { exact: true }),
  snapshot_at: Schema.optionalWith(Timestamp, { exact: true })
}).annotations({ identifier: "TaskLogsResponse" })
export type TaskLogsResponse = typeof TaskLogsResponse.Type

export const WorkspaceBuild = Schema.Struct({
  id: Schema.UUID,
  created_at: Timestamp,
  updated_at: Timestamp,
  workspace_id: Schema.UUID,
  workspace_name: Schema.String,
  workspace_owner_id: Schema.UUID,
  template_version_id: Schema.UUID,
  build_number: Schema.Int,
  transition: WorkspaceTransition,
  initiator_id: Schema.UUID,
  reason: BuildReason,
  job_status: ProvisionerJobStatus,
  status: WorkspaceStatus
}).annotations({ identifier: "WorkspaceBuild" })
export type WorkspaceBuild = typeof WorkspaceBuild.Type

export const WorkspaceBuildResponse = Schema.Struct({
  workspace_build: WorkspaceBuild
}).annotations({ identifier: "TaskWorkspaceBuildResponse" })
