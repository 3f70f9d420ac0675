/**
 * Users, API keys and organizations as the admin endpoints show them.
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import { UserRole } from "./Actor.ts"
import { Timestamp } from "./Time.ts"
import { Uuid } from "./Uuid.ts"

export const User = Schema.Struct({
  id: Uuid,
  username: Schema.String,
  email: Schema.String,
  avatar_url: Schema.String,
  roles: Schema.Array(UserRole),
  organization_ids: Schema.Array(Uuid),
  created_at: Timestamp
}).annotate({ identifier: "User" })
export type User = typeof User.Type

/** `GET /users`: Coder's GetUsersResponse, every user and how many there are. */
export const GetUsersResponse = Schema.Struct({
  users: Schema.Array(User),
  count: Schema.Int
}).annotate({ identifier: "GetUsersResponse" })
export type GetUsersResponse = typeof GetUsersResponse.Type

export const CreateUserRequest = Schema.Struct({
  username: Schema.String,
  email: Schema.String,
  role: Schema.optional(UserRole),
  organization: Schema.optional(Schema.String)
}).annotate({ identifier: "CreateUserRequest" })
export type CreateUserRequest = typeof CreateUserRequest.Type

export const GenerateApiKeyResponse = Schema.Struct({
  key: Schema.String
}).annotate({ identifier: "GenerateAPIKeyResponse" })

/** An organization (taskd has one, "default", unless more are added). */
export const Organization = Schema.Struct({
  id: Schema.String,
  name: Schema.String
})
export type Organization = typeof Organization.Type

/**
 * The organization an `{organization}` path segment names (its id or name), looked up by the endpoint's
 * middleware (declared in src/Api.ts as `OrganizationParam`) before the body is read.
 */
export class CurrentOrganization extends Context.Service<CurrentOrganization, Organization>()(
  "taskd/CurrentOrganization"
) {}
