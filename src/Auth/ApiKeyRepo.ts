/**
 * User API keys: stored as (id, SHA-256 of the secret, user, expiry).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { UserRole } from "../Domain/Actor.ts"

export const ApiKeyWithUser = Schema.Struct({
  hashedSecret: Schema.Uint8Array,
  expiresAt: Schema.Date,
  userId: Schema.String,
  username: Schema.String,
  role: UserRole
})
export type ApiKeyWithUser = typeof ApiKeyWithUser.Type

export interface NewApiKey {
  readonly id: string
  readonly hashedSecret: Uint8Array
  readonly userId: string
  readonly expiresAt: Date
  readonly createdAt: Date
}

export class ApiKeyRepo extends Context.Service<ApiKeyRepo, {
  readonly insert: (key: NewApiKey) => Effect.Effect<void>
  /** The key with this id and its user, if there is one (the caller checks the secret and the expiry). */
  readonly findWithUser: (id: string) => Effect.Effect<ApiKeyWithUser | undefined>
}>()("taskd/ApiKeyRepo") {
  static readonly layer = Layer.effect(
    ApiKeyRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const insert = (key: NewApiKey) =>
        sql`INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, created_at)
            VALUES (${key.id}, ${key.hashedSecret}, ${key.userId}, ${key.expiresAt}, ${key.createdAt})`.pipe(
          Effect.asVoid,
          Effect.orDie
        )

      const keyWithUser = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: ApiKeyWithUser,
        execute: (id) =>
          sql`
            SELECT k.hashed_secret AS "hashedSecret", k.expires_at AS "expiresAt", u.id AS "userId",
                   u.username, u.role
            FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.id = ${id}`
      })

      const findWithUser = (id: string) => keyWithUser(id).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

      return ApiKeyRepo.of({ insert, findWithUser })
    })
  )
}
