/**
 * Who is calling: a user (by API key) or a workspace agent (by agent token). Provided to handlers by the
 * authentication middlewares declared in Api.ts.
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"

export const UserRole = Schema.Literal("owner", "member")
export type UserRole = typeof UserRole.Type

export interface UserActor {
  readonly id: string
  readonly username: string
  readonly role: UserRole
}

export class CurrentUser extends Context.Tag("taskd/CurrentUser")<CurrentUser, UserActor>() {}

export interface AgentActor {
  readonly agentId: string
  readonly workspaceId: string
  readonly ownerId: string
  readonly buildId: string
}

export class CurrentAgent extends Context.Tag("taskd/CurrentAgent")<CurrentAgent, AgentActor>() {}
