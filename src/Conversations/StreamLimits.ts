/**
 * How many event streams each user has open on this instance, and the cap on them
 * (`TASKD_MAX_STREAMS_PER_USER`, default 32, both kinds of stream together): one more is a 429 in Coder's
 * body. A stream counts from the moment it is admitted until its scope closes, however it ends (the
 * client went away, it overflowed, the instance shut down).
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { TooManyRequests } from "../Domain/CoderError.ts"

export const StreamLimitsConfig = Config.all({
  maxPerUser: Config.Int("TASKD_MAX_STREAMS_PER_USER").pipe(Config.withDefault(32))
})

export class StreamLimits extends Context.Service<StreamLimits, {
  /** Counts one more open stream of the user for the life of the scope, or fails when the user has the most. */
  readonly admit: (userId: string) => Effect.Effect<void, TooManyRequests, Scope.Scope>
  /** The user's open streams on this instance. */
  readonly openOf: (userId: string) => Effect.Effect<number>
}>()("taskd/StreamLimits") {
  static readonly make = Effect.gen(function*() {
    const { maxPerUser } = yield* StreamLimitsConfig
    const open = new Map<string, number>()

    const release = (userId: string) =>
      Effect.sync(() => {
        const count = (open.get(userId) ?? 1) - 1
        if (count <= 0) open.delete(userId)
        else open.set(userId, count)
      })

    const admit = (userId: string) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const count = open.get(userId) ?? 0
          if (count >= maxPerUser) {
            return Effect.fail(
              new TooManyRequests({
                message: "Too many open event streams.",
                detail: `A user may have at most ${maxPerUser} event streams open on this taskd instance ` +
                  `(TASKD_MAX_STREAMS_PER_USER); close one first.`
              })
            )
          }
          open.set(userId, count + 1)
          return Effect.void
        }),
        () => release(userId)
      )

    return StreamLimits.of({ admit, openOf: (userId) => Effect.sync(() => open.get(userId) ?? 0) })
  })

  static readonly layer = Layer.effect(StreamLimits, StreamLimits.make)
}
