/**
 * Users, organizations and memberships.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isUniqueViolation } from "../Database/Errors.ts"
import type { UserRole } from "../Domain/Actor.ts"
import type { User } from "../Domain/User.ts"

export class UsernameTaken extends Data.TaggedError("UsernameTaken")<{ readonly username: string }> {}

interface UserRow {
  readonly id: string
  readonly username: string
  readonly email: string
  readonly avatar_url: string
  readonly role: UserRole
  readonly organization_ids: ReadonlyArray<string> | null
  readonly created_at: Date
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  email: row.email,
  avatar_url: row.avatar_url,
  roles: [row.role],
  organization_ids: row.organization_ids ?? [],
  created_at: row.created_at
})

export interface Organization {
  readonly id: string
  readonly name: string
}

export class UserRepo extends Effect.Service<UserRepo>()("taskd/UserRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const selectUsers = sql`
      SELECT u.id, u.username, u.email, u.avatar_url, u.role, u.created_at,
             (SELECT array_agg(m.organization_id ORDER BY m.created_at) FROM organization_members m
              WHERE m.user_id = u.id) AS organization_ids
      FROM users u`

    const findById = (id: string) =>
      sql<UserRow>`${selectUsers} WHERE u.id = ${id}`.pipe(
        Effect.map((rows) => rows[0] === undefined ? undefined : toUser(rows[0])),
        Effect.orDie
      )

    /** Coder matches usernames case-insensitively. */
    const findByUsername = (username: string) =>
      sql<UserRow>`${selectUsers} WHERE lower(u.username) = lower(${username})`.pipe(
        Effect.map((rows) => rows[0] === undefined ? undefined : toUser(rows[0])),
        Effect.orDie
      )

    /** Inserts a user and its membership in one organization, in one transaction. */
    const insert = (user: {
      readonly id: string
      readonly username: string
      readonly email: string
      readonly role: UserRole
      readonly organizationId: string
      readonly createdAt: Date
    }): Effect.Effect<User, UsernameTaken> =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO users (id, username, email, role, created_at)
                   VALUES (${user.id}, ${user.username}, ${user.email}, ${user.role}, ${user.createdAt})`
        yield* sql`INSERT INTO organization_members (organization_id, user_id, created_at)
                   VALUES (${user.organizationId}, ${user.id}, ${user.createdAt})`
      })).pipe(
        Effect.catchIf(isUniqueViolation, () => Effect.fail(new UsernameTaken({ username: user.username }))),
        Effect.catchTag("SqlError", (error: SqlError) => Effect.die(error)),
        Effect.as(
          {
            id: user.id,
            username: user.username,
            email: user.email,
            avatar_url: "",
            roles: [user.role],
            organization_ids: [user.organizationId],
            created_at: user.createdAt
          } satisfies User
        )
      )

    const findOrganizationByName = (name: string) =>
      sql<Organization>`SELECT id, name FROM organizations WHERE lower(name) = lower(${name})`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    const findOrganization = (idOrName: string) =>
      sql<Organization>`SELECT id, name FROM organizations
                        WHERE id::text = lower(${idOrName}) OR lower(name) = lower(${idOrName})
                        ORDER BY (id::text = lower(${idOrName})) DESC LIMIT 1`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    /** The oldest organization: where users go when none is named. */
    const defaultOrganization = sql<Organization>`SELECT id, name FROM organizations ORDER BY created_at, id LIMIT 1`
      .pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    const isMember = (organizationId: string, userId: string) =>
      sql<{ n: number }>`SELECT 1 AS n FROM organization_members
                         WHERE organization_id = ${organizationId} AND user_id = ${userId}`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.orDie
      )

    return {
      findById,
      findByUsername,
      insert,
      findOrganizationByName,
      findOrganization,
      defaultOrganization,
      isMember
    } as const
  })
}) {}
