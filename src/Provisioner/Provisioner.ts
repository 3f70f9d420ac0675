/**
 * The Provisioner runs a workspace: it is told to start one (with the agent identity taskd made for it)
 * and to stop one. taskd ships an instant provisioner and a local process provisioner; a host application
 * can supply its own.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"

/** Everything a provisioner needs to start a task's workspace. */
export interface WorkspaceSpec {
  readonly workspaceId: string
  readonly buildNumber: number
  readonly taskId: string | null
  readonly prompt: string
  readonly agentId: string
  /** The agent's token, given to the workspace only (taskd keeps its hash). */
  readonly agentToken: string
  readonly appSlug: string
  /** The template version's task app URL (agentapi), if it has one. */
  readonly templateAppUrl: string
  /** The template version's command to run as the workspace, if it has one. */
  readonly agentCommand: string
}

export class ProvisionFailed extends Data.TaggedError("ProvisionFailed")<{ readonly reason: string }> {}

export class Provisioner extends Context.Service<Provisioner, {
  /** Where the task app will listen; decided before the workspace starts, so the agent can read it at once. */
  readonly appUrl: (spec: WorkspaceSpec) => Effect.Effect<string, ProvisionFailed>
  /** Starts the workspace. Returns once it is running (not when the agent is ready). */
  readonly start: (spec: WorkspaceSpec & { readonly appUrl: string }) => Effect.Effect<void, ProvisionFailed>
  /** Stops the workspace, giving its agent time to shut down (and upload its snapshot). */
  readonly stop: (workspaceId: string) => Effect.Effect<void>
  /**
   * Stops every workspace this instance runs, because taskd is shutting down. Called while the server
   * still answers, so agents can upload their snapshots on the way out.
   */
  readonly stopAll: Effect.Effect<void>
}>()("taskd/Provisioner") {}
