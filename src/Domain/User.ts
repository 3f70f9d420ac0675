/**
 * Users, API keys and organizations as the admin endpoints show them.
 */
import * as Schema from "effect/Schema"
import { UserRole } from "./Actor.ts"
import { Timestamp } from "./Time.ts"

export const User = Schema.Struct({
  id: Schema.UUID,
  username: Schema.String,
  email: Schema.String,
  avatar_url: Schema.String,
  roles: Schema.Array(UserRole),
  organization_ids: Schema.Array(Schema.UUID),
  created_at: Timestamp
}).annotations({ identifier: "User" })
export type User = typeof User.Type

export const CreateUserRequest = Schema.Struct({
  username: Schema.String,
  email: Schema.String,
  role: Schema.optional(UserRole),
  organization: Schema.optional(Schema.String)
}).annotations({ identifier: "CreateUserRequest" })
export type CreateUserRequest = typeof CreateUserRequest.Type

export const GenerateApiKeyResponse = Schema.Struct({
  key: Schema.String
}).annotations({ identifier: "GenerateAPIKeyResponse" })
