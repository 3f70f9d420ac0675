/**
 * From a task row to the Task JSON of spec §4.1, including `current_state` (spec §5.2).
 */
import type { AgentLifecycle, AppHealth, Task, TaskStateEntry, WorkspaceStatus } from "../Domain/Task.ts"
import type { TaskRow } from "../Domain/Task.ts"
import { zeroTime } from "../Domain/Time.ts"
import { workspaceStatus } from "../Workspaces/WorkspaceStatus.ts"

/**
 * Go's zero `time.Time` (0001-01-01T00:00:00Z): the `updated_at` of a task built from an empty workspace
 * value (spec §3.1), and the initializing state's timestamp when there is no build.
 */
const goZeroTime = new Date(zeroTime)

/** Coder's `deriveTaskCurrentState`. */
export const currentState = (row: TaskRow, buildStatus: WorkspaceStatus | undefined): TaskStateEntry | null => {
  if (row.app_status_state !== null && row.app_status_created_at !== null) {
    // A status left over from an earlier build is ignored once a newer start build exists.
    const stale = row.latest_build_transition === "start" && row.latest_build_created_at !== null &&
      row.app_status_created_at.getTime() <= row.latest_build_created_at.getTime()
    if (!stale) {
      return {
        timestamp: row.app_status_created_at,
        state: row.app_status_state,
        message: row.app_status_message ?? "",
        uri: row.app_status_uri ?? ""
      }
    }
  }
  if (row.status !== "initializing") return null
  return {
    timestamp: row.latest_build_created_at ?? goZeroTime,
    state: "working",
    message: initializingMessage(buildStatus, row.workspace_agent_lifecycle_state, row.workspace_app_health),
    uri: ""
  }
}

const initializingMessage = (
  buildStatus: WorkspaceStatus | undefined,
  lifecycle: AgentLifecycle | null,
  appHealth: AppHealth | null
): string => {
  if (buildStatus === "pending" || buildStatus === "starting") return `Workspace is ${buildStatus}`
  switch (lifecycle) {
    case null:
      return "Initializing workspace"
    case "created":
      return "Agent is connecting"
    case "starting":
      return "Agent is starting"
    case "ready":
      return appHealth === "initializing" ? "App is initializing" : "Initializing workspace applications"
    default:
      return "Initializing workspace agent"
  }
}

/** Coder's agent health, from what taskd knows: the agent's lifecycle. */
const agentHealth = (lifecycle: AgentLifecycle): { healthy: boolean; reason?: string } => {
  switch (lifecycle) {
    case "created":
      return { healthy: false, reason: "agent has not connected yet" }
    case "start_error":
      return { healthy: false, reason: "agent startup script exited with an error" }
    case "start_timeout":
      return { healthy: false, reason: "agent startup script took too long" }
    case "shutting_down":
    case "shutdown_timeout":
    case "shutdown_error":
    case "off":
      return { healthy: false, reason: "agent is not running" }
    default:
      return { healthy: true }
  }
}

export const toTask = (row: TaskRow): Task => {
  const buildStatus = row.latest_build_transition !== null && row.latest_build_job_status !== null
    ? workspaceStatus(row.latest_build_transition, row.latest_build_job_status)
    : undefined
  return {
    id: row.id,
    organization_id: row.organization_id,
    owner_id: row.owner_id,
    owner_name: row.owner_username,
    ...(row.owner_avatar_url === "" ? {} : { owner_avatar_url: row.owner_avatar_url }),
    name: row.name,
    display_name: row.display_name,
    template_id: row.template_id ?? "00000000-0000-0000-0000-000000000000",
    template_version_id: row.template_version_id,
    template_name: row.template_name ?? "",
    template_display_name: row.template_display_name ?? "",
    template_icon: row.template_icon ?? "",
    workspace_id: row.workspace_id,
    workspace_name: row.workspace_name ?? "",
    ...(buildStatus === undefined ? {} : { workspace_status: buildStatus }),
    ...(row.workspace_build_number === null || row.workspace_build_number === 0
      ? {}
      : { workspace_build_number: row.workspace_build_number }),
    workspace_agent_id: row.workspace_agent_id,
    workspace_agent_lifecycle: row.workspace_agent_lifecycle_state,
    workspace_agent_health: row.workspace_agent_lifecycle_state === null
      ? null
      : agentHealth(row.workspace_agent_lifecycle_state),
    workspace_app_id: row.workspace_app_id,
    initial_prompt: row.prompt,
    status: row.status,
    current_state: currentState(row, buildStatus),
    created_at: row.created_at,
    updated_at: row.workspace_updated_at ?? goZeroTime
  }
}
