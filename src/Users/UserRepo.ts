/**
 * Users, organizations and memberships.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { isUniqueViolation } from "../Database/Errors.ts"
import { UserRole } from "../Domain/Actor.ts"
import { Organization, type User } from "../Domain/User.ts"

export class UsernameTaken extends Data.TaggedError("UsernameTaken")<{ readonly username: string }> {}

const UserRow = Schema.Struct({
  id: Schema.String,
  username: Schema.String,
  email: Schema.String,
  avatar_url: Schema.String,
  role: UserRole,
  organization_ids: Schema.NullOr(Schema.Array(Schema.String)),
  created_at: Schema.Date
})
type UserRow = typeof UserRow.Type

const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  email: row.email,
  avatar_url: row.avatar_url,
  roles: [row.role],
  organization_ids: row.organization_ids ?? [],
  created_at: row.created_at
})

export interface NewUser {
  readonly id: string
  readonly username: string
  readonly email: string
  readonly role: UserRole
  readonly organizationId: string
  readonly createdAt: Date
}

export class UserRepo extends Context.Service<UserRepo, {
  readonly findById: (id: string) => Effect.Effect<User | undefined>
  /** Coder matches usernames case-insensitively. */
  readonly findByUsername: (username: string) => Effect.Effect<User | undefined>
  /** Every user, by username (case-insensitively, as Coder orders them), then id. */
  readonly list: Effect.Effect<ReadonlyArray<User>>
  /** Inserts a user and its membership in one organization, in one transaction. */
  readonly insert: (user: NewUser) => Effect.Effect<User, UsernameTaken>
  readonly findOrganizationByName: (name: string) => Effect.Effect<Organization | undefined>
  /** An organization by id or by name (case-insensitive); the id wins. */
  readonly findOrganization: (idOrName: string) => Effect.Effect<Organization | undefined>
  /** The oldest organization: where users go when none is named. */
  readonly defaultOrganization: Effect.Effect<Organization | undefined>
  readonly isMember: (organizationId: string, userId: string) => Effect.Effect<boolean>
}>()("taskd/UserRepo") {
  static readonly layer = Layer.effect(
    UserRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const selectUsers = sql`
        SELECT u.id, u.username, u.email, u.avatar_url, u.role, u.created_at,
               (SELECT array_agg(m.organization_id ORDER BY m.created_at) FROM organization_members m
                WHERE m.user_id = u.id) AS organization_ids
        FROM users u`

      const userById = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: UserRow,
        execute: (id) => sql`${selectUsers} WHERE u.id = ${id}`
      })

      const userByUsername = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: UserRow,
        execute: (username) => sql`${selectUsers} WHERE lower(u.username) = lower(${username})`
      })

      const allUsers = SqlSchema.findAll({
        Request: Schema.Void,
        Result: UserRow,
        execute: () => sql`${selectUsers} ORDER BY lower(u.username), u.id`
      })

      const list = Effect.suspend(() => allUsers(undefined)).pipe(
        Effect.map((rows) => rows.map(toUser)),
        Effect.orDie
      )

      const toMaybeUser = (row: Option.Option<UserRow>) => Option.isSome(row) ? toUser(row.value) : undefined

      const findById = (id: string) => userById(id).pipe(Effect.map(toMaybeUser), Effect.orDie)

      const findByUsername = (username: string) => userByUsername(username).pipe(Effect.map(toMaybeUser), Effect.orDie)

      const insert = (user: NewUser): Effect.Effect<User, UsernameTaken> =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO users (id, username, email, role, created_at)
                     VALUES (${user.id}, ${user.username}, ${user.email}, ${user.role}, ${user.createdAt})`
          yield* sql`INSERT INTO organization_members (organization_id, user_id, created_at)
                     VALUES (${user.organizationId}, ${user.id}, ${user.createdAt})`
        })).pipe(
          Effect.catchIf(
            isUniqueViolation,
            () => Effect.fail(new UsernameTaken({ username: user.username })),
            Effect.die
          ),
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

      const organizationByName = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: Organization,
        execute: (name) => sql`SELECT id, name FROM organizations WHERE lower(name) = lower(${name})`
      })

      const organizationByIdOrName = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: Organization,
        execute: (idOrName) =>
          sql`SELECT id, name FROM organizations
              WHERE id::text = lower(${idOrName}) OR lower(name) = lower(${idOrName})
              ORDER BY (id::text = lower(${idOrName})) DESC LIMIT 1`
      })

      const oldestOrganization = SqlSchema.findOneOption({
        Request: Schema.Void,
        Result: Organization,
        execute: () => sql`SELECT id, name FROM organizations ORDER BY created_at, id LIMIT 1`
      })

      const findOrganizationByName = (name: string) =>
        organizationByName(name).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

      const findOrganization = (idOrName: string) =>
        organizationByIdOrName(idOrName).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

      const defaultOrganization = Effect.suspend(() => oldestOrganization(undefined)).pipe(
        Effect.map(Option.getOrUndefined),
        Effect.orDie
      )

      const isMember = (organizationId: string, userId: string) =>
        sql`SELECT 1 AS n FROM organization_members
            WHERE organization_id = ${organizationId} AND user_id = ${userId}`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.orDie
        )

      return UserRepo.of({
        findById,
        findByUsername,
        list,
        insert,
        findOrganizationByName,
        findOrganization,
        defaultOrganization,
        isMember
      })
    })
  )
}
