/**
 * The RequireOwner middleware declared in src/Api.ts: owner-only endpoints answer a member with the
 * standard 403 after authentication and before their body is read, as Coder's owner-only routes do.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { RequireOwner } from "../Api.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { forbidden } from "../Domain/CoderError.ts"

export const RequireOwnerLive: Layer.Layer<RequireOwner> = Layer.succeed(
  RequireOwner,
  (httpEffect) =>
    Effect.gen(function*() {
      const actor = yield* CurrentUser
      if (actor.role !== "owner") return yield* forbidden()
      return yield* httpEffect
    })
)
