/**
 * Who is calling: a user (by API key) or a workspace agent (by agent token). Provided to handlers by the
 * authentication middlewares declared in Api.ts.
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"

export const UserRole = Schema.Literals(["owner", "member"])
export type UserRole = typeof UserRole.Type

export interface UserActor {
  readonly id: string
  readonly username: string
  readonly role: UserRole
}

export class CurrentUser extends Context.Service<CurrentUser, UserActor>()("taskd/CurrentUser") {}

export interface AgentActor {
  readonly agentId: string
  readonly workspaceId: string
  readonly ownerId: string
  readonly buildId: string
}

export class CurrentAgent extends Context.Service<CurrentAgent, AgentActor>()("taskd/CurrentAgent") {}

/**
 * The task a snapshot upload is for, checked (it exists, is live, and belongs to the agent's workspace)
 * by the upload's endpoint middleware before a byte of the body is read.
 */
export interface UploadTask {
  readonly taskId: string
}

export class CurrentUploadTask extends Context.Service<CurrentUploadTask, UploadTask>()("taskd/CurrentUploadTask") {}
