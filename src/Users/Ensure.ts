/**
 * For hosts that map their own sessions to taskd users: finds a user by username, or creates it in the
 * default organization. Safe when two requests for a new user race.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import type { UserActor, UserRole } from "../Domain/Actor.ts"
import type { User } from "../Domain/User.ts"
import { UserRepo } from "./UserRepo.ts"

export interface EnsureUserOptions {
  readonly username: string
  /** Used only when the user is created; default `<username>@localhost`. */
  readonly email?: string | undefined
  /** Used only when the user is created; default `member`. */
  readonly role?: UserRole | undefined
}

const toActor = (user: User): UserActor => ({
  id: user.id,
  username: user.username,
  role: user.roles.includes("owner") ? "owner" : "member"
})

/** The taskd user named `username`, created on first use. Needs a migrated, bootstrapped database. */
export const ensureUser: (options: EnsureUserOptions) => Effect.Effect<UserActor, never, UserRepo> = Effect.fn(
  "taskd.ensureUser"
)(function*(options: EnsureUserOptions) {
  const users = yield* UserRepo
  const existing = yield* users.findByUsername(options.username)
  if (existing !== undefined) return toActor(existing)
  const organization = yield* users.defaultOrganization
  if (organization === undefined) {
    return yield* Effect.die(new Error("taskd has no organization yet: run the bootstrap first"))
  }
  const created = yield* users.insert({
    id: randomUUID(),
    username: options.username,
    email: options.email ?? `${options.username}@localhost`,
    role: options.role ?? "member",
    organizationId: organization.id,
    createdAt: new Date(yield* Clock.currentTimeMillis)
  }).pipe(
    // Another request created it first.
    Effect.catchTag("UsernameTaken", () =>
      Effect.flatMap(
        users.findByUsername(options.username),
        (user) => user === undefined ? Effect.die(new Error("user vanished")) : Effect.succeed(user)
      ))
  )
  return toActor(created)
})
