/**
 * Resolves a `{user}` path segment as Coder does: `me`, a user id, or a username (case-insensitive).
 */
import * as Effect from "effect/Effect"
import type { UserActor } from "../Domain/Actor.ts"
import { BadRequest } from "../Domain/CoderError.ts"
import type { User } from "../Domain/User.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import { UserRepo } from "./UserRepo.ts"

export const resolveUserParam: (value: string, actor: UserActor) => Effect.Effect<User, BadRequest, UserRepo> = Effect
  .fnUntraced(function*(value: string, actor: UserActor) {
    const users = yield* UserRepo
    if (value === "") return yield* new BadRequest({ message: `"user" must be provided.` })
    const found = value === "me"
      ? yield* users.findById(actor.id)
      : isCanonicalUuid(value)
      ? yield* users.findById(value.toLowerCase())
      : yield* users.findByUsername(value)
    if (found === undefined) {
      return yield* new BadRequest({
        message: `"user" must be an existing uuid or username.`,
        detail: `queried user=${JSON.stringify(value)}`
      })
    }
    return found
  })
