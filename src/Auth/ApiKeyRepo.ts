/**
 * User API keys: stored as (id, SHA-256 of the secret, user, expiry).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { UserRole } from "../Domain/Actor.ts"

export interface ApiKeyWithUser {
  readonly hashedSecret: Uint8Array
  readonly expiresAt: Date
  readonly userId: string
  readonly username: string
  readonly role: UserRole
}

export class ApiKeyRepo extends Effect.Service<ApiKeyRepo>()("taskd/ApiKeyRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const insert = (key: {
      readonly id: string
      readonly hashedSecret: Uint8Array
      readonly userId: string
      readonly expiresAt: Date
      readonly createdAt: Date
    }) =>
      sql`INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, created_at)
          VALUES (${key.id}, ${key.hashedSecret}, ${key.userId}, ${key.expiresAt}, ${key.createdAt})`.pipe(
        Effect.asVoid,
        Effect.orDie
      )

    const findWithUser = (id: string) =>
      sql<ApiKeyWithUser>`
        SELECT k.hashed_secret AS "hashedSecret", k.expires_at AS "expiresAt", u.id AS "userId",
               u.username, u.role
        FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.id = ${id}`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    return { insert, findWithUser } as const
  })
}) {}
