/**
 * Handlers of the users group: create and list users, read yourself, issue API keys. users.create and
 * users.list are owner-only: the RequireOwner middleware (src/Users/RequireOwner.ts) checks it before the
 * body is read.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { ApiKeyRepo } from "../Auth/ApiKeyRepo.ts"
import { generateApiKey, hashSecret } from "../Auth/Tokens.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { BadRequest, Conflict, forbidden, validationFailed } from "../Domain/CoderError.ts"
import { nameInvalidReason } from "../Domain/Name.ts"
import { resolveUserParam } from "./UserParam.ts"
import { UserRepo } from "./UserRepo.ts"

/** How long a key issued through the API lives. */
export const apiKeyLifetimeMillis = 30 * 24 * 60 * 60 * 1000

const emailPattern = /^[^\s@]+@[^\s@]+$/

export const UsersHandlers = HttpApiBuilder.group(
  Api,
  "users",
  Effect.fn(function*(handlers) {
    const users = yield* UserRepo
    const apiKeys = yield* ApiKeyRepo

    return handlers
      .handle(
        "create",
        Effect.fn("Users.create")(function*({ payload }) {
          const usernameInvalid = nameInvalidReason(payload.username)
          const invalid = [
            ...(usernameInvalid === undefined ? [] : [{
              field: "username",
              detail: `Validation failed for tag "username" with value: ${
                JSON.stringify(payload.username)
              }: ${usernameInvalid}`
            }]),
            ...(emailPattern.test(payload.email) ? [] : [{
              field: "email",
              detail: `Validation failed for tag "email" with value: ${JSON.stringify(payload.email)}`
            }])
          ]
          if (invalid.length > 0) return yield* validationFailed(invalid)
          const organization = payload.organization === undefined
            ? yield* users.defaultOrganization
            : yield* users.findOrganizationByName(payload.organization)
          if (organization === undefined) {
            return yield* new BadRequest({
              message: `Organization ${JSON.stringify(payload.organization ?? "default")} does not exist.`
            })
          }
          return yield* users.insert({
            id: randomUUID(),
            username: payload.username,
            email: payload.email,
            role: payload.role ?? "member",
            organizationId: organization.id,
            createdAt: new Date(yield* Clock.currentTimeMillis)
          }).pipe(
            Effect.catchTag(
              "UsernameTaken",
              () => Effect.fail(new Conflict({ message: `User ${JSON.stringify(payload.username)} already exists.` }))
            )
          )
        })
      )
      .handle(
        "list",
        Effect.fn("Users.list")(function*() {
          const all = yield* users.list
          return { users: all, count: all.length }
        })
      )
      .handle(
        "me",
        Effect.fn("Users.me")(function*() {
          const actor = yield* CurrentUser
          const user = yield* users.findById(actor.id)
          if (user === undefined) return yield* Effect.die(new Error("authenticated user has no row"))
          return user
        })
      )
      .handle(
        "createApiKey",
        Effect.fn("Users.createApiKey")(function*({ params }) {
          const actor = yield* CurrentUser
          const user = yield* resolveUserParam(params.user, actor).pipe(Effect.provideService(UserRepo, users))
          if (user.id !== actor.id && actor.role !== "owner") return yield* forbidden()
          const key = generateApiKey()
          const now = yield* Clock.currentTimeMillis
          yield* apiKeys.insert({
            id: key.id,
            hashedSecret: hashSecret(key.secret),
            userId: user.id,
            createdAt: new Date(now),
            expiresAt: new Date(now + apiKeyLifetimeMillis)
          })
          return { key: key.token }
        })
      )
  })
).pipe(Layer.provide([UserRepo.layer, ApiKeyRepo.layer]))
