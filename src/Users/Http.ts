/**
 * Handlers of the users group: create users, read yourself, issue API keys.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { ApiKeyRepo } from "../Auth/ApiKeyRepo.ts"
import { generateApiKey, hashSecret } from "../Auth/Tokens.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { BadRequest, Conflict } from "../Domain/CoderError.ts"
import { nameInvalidReason } from "../Domain/Name.ts"
import { CreateUserRequest } from "../Domain/User.ts"
import { readJsonAs, withBody } from "../Http/Body.ts"
import { edge } from "../Http/Edge.ts"
import { forbidden, invalidJson, validationFailed } from "../Http/Responses.ts"
import { resolveUserParam } from "./UserParam.ts"
import { UserRepo } from "./UserRepo.ts"

/** How long a key issued through the API lives. */
export const apiKeyLifetimeMillis = 30 * 24 * 60 * 60 * 1000

const emailPattern = /^[^\s@]+@[^\s@]+$/

export const UsersHandlers = HttpApiBuilder.group(Api, "users", (handlers) =>
  Effect.gen(function*() {
    const users = yield* UserRepo
    const apiKeys = yield* ApiKeyRepo

    const createUser = (body: CreateUserRequest) =>
      Effect.gen(function*() {
        const invalid = [
          ...(nameInvalidReason(body.username) === undefined ? [] : [{
            field: "username",
            detail: `Validation failed for tag "username" with value: ${JSON.stringify(body.username)}: ${
              nameInvalidReason(body.username)
            }`
          }]),
          ...(emailPattern.test(body.email) ? [] : [{
            field: "email",
            detail: `Validation failed for tag "email" with value: ${JSON.stringify(body.email)}`
          }])
        ]
        if (invalid.length > 0) return yield* validationFailed(invalid)
        const organization = body.organization === undefined
          ? yield* users.defaultOrganization
          : yield* users.findOrganizationByName(body.organization)
        if (organization === undefined) {
          return yield* new BadRequest({
            message: `Organization ${JSON.stringify(body.organization ?? "default")} does not exist.`
          })
        }
        const createdAt = new Date(yield* Clock.currentTimeMillis)
        const user = yield* users.insert({
          id: randomUUID(),
          username: body.username,
          email: body.email,
          role: body.role ?? "member",
          organizationId: organization.id,
          createdAt
        }).pipe(
          Effect.catchTag(
            "UsernameTaken",
            () => new Conflict({ message: `User ${JSON.stringify(body.username)} already exists.` })
          )
        )
        return user
      })

    return handlers
      .handleRaw("create", ({ request }) =>
        Effect.gen(function*() {
          const actor = yield* CurrentUser
          if (actor.role !== "owner") return yield* forbidden()
          return yield* withBody(readJsonAs(request, CreateUserRequest), invalidJson, createUser)
        }).pipe(edge))
      .handle("me", () =>
        Effect.gen(function*() {
          const actor = yield* CurrentUser
          const user = yield* users.findById(actor.id)
          if (user === undefined) return yield* Effect.dieMessage("authenticated user has no row")
          return user
        }).pipe(edge))
      .handle("createApiKey", ({ path }) =>
        Effect.gen(function*() {
          const actor = yield* CurrentUser
          const user = yield* resolveUserParam(path.user, actor)
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
        }).pipe(edge))
  })).pipe(Layer.provide([UserRepo.Default, ApiKeyRepo.Default]))
