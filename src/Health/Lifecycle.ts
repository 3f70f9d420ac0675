/**
 * The lifecycle of this taskd instance: serving, then draining once its shutdown has begun. Readiness
 * answers 503 while draining (a load balancer stops sending new requests, and the ones in flight finish),
 * and the job runner claims no job and starts no workspace.
 *
 * One Lifecycle per instance: the standalone server builds `Lifecycle.layer` outside `HttpRouter.serve`,
 * so its shutdown hook and the handlers and job runner inside share it (layers are shared by reference).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Semaphore from "effect/Semaphore"

/** More sections than can ever run at once: `drain` takes them all to wait for the ones in flight. */
const allPermits = 2 ** 30

export class Lifecycle extends Context.Service<Lifecycle, {
  /** Whether this instance's shutdown has begun. */
  readonly draining: Effect.Effect<boolean>
  /**
   * Completes when this instance's shutdown begins: long-lived responses (event streams) end then, so that
   * the server's graceful close does not wait for them.
   */
  readonly whenDraining: Effect.Effect<void>
  /**
   * Begins the shutdown (from now on `draining` is true and `unlessDraining` runs nothing), then waits for
   * the `unlessDraining` sections in flight to finish.
   */
  readonly drain: Effect.Effect<void>
  /**
   * Runs `effect` unless the shutdown has begun (then it answers `None` without running it). A `drain` that
   * begins meanwhile waits for it, so what it starts is there for the shutdown to stop.
   */
  readonly unlessDraining: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R>
}>()("taskd/Lifecycle") {
  static readonly make = Effect.gen(function*() {
    const draining = yield* Ref.make(false)
    const drainBegun = yield* Deferred.make<void>()
    const sections = yield* Semaphore.make(allPermits)
    return Lifecycle.of({
      draining: Ref.get(draining),
      whenDraining: Deferred.await(drainBegun),
      drain: Ref.set(draining, true).pipe(
        Effect.andThen(Deferred.succeed(drainBegun, undefined)),
        Effect.andThen(sections.withPermits(allPermits)(Effect.void))
      ),
      unlessDraining: (effect) =>
        sections.withPermits(1)(
          Effect.flatMap(
            Ref.get(draining),
            (isDraining) => isDraining ? Effect.succeedNone : Effect.asSome(effect)
          )
        )
    })
  })

  static readonly layer: Layer.Layer<Lifecycle> = Layer.effect(Lifecycle, Lifecycle.make)
}
