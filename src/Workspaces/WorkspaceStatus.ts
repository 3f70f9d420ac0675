/**
 * A workspace's status, derived from its latest build as Coder derives it (codersdk.WorkspaceStatus).
 */
import type { ProvisionerJobStatus, WorkspaceStatus, WorkspaceTransition } from "../Domain/Task.ts"

export const workspaceStatus = (transition: WorkspaceTransition, job: ProvisionerJobStatus): WorkspaceStatus => {
  switch (job) {
    case "pending":
      return "pending"
    case "running":
      return transition === "start" ? "starting" : transition === "stop" ? "stopping" : "deleting"
    case "succeeded":
      return transition === "start" ? "running" : transition === "stop" ? "stopped" : "deleted"
    case "canceling":
      return "canceling"
    case "canceled":
      return "canceled"
    case "failed":
    case "unknown":
      return "failed"
  }
}
