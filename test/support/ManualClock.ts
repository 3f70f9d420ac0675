/**
 * A clock whose time stands still until the test moves it, and whose sleeps are real: for tests whose
 * server must read a time the test sets (key expiry, capture times).
 *
 * Why not the TestClock: Effect 4's `TestClock.setTime`/`adjust` wake every sleep due before the new time,
 * one at a time, waiting for each woken fiber to settle. A served taskd has fibers that sleep in a loop
 * (the job runner polls every second), so moving a TestClock by years runs that loop for every second in
 * between and never returns. And the database pool reads its clock too: a jump of years retires its
 * connections mid-query. So only taskd (its `clock` part) and the test's fixtures get this clock; the
 * server and the pool keep the live one. Sleeps and monotonic time are live here as well.
 *
 * ```ts
 * const time = ManualClock.make()
 * layer(Layer.merge(TestServer.layer(backend, { clock: time.clock }), time.layer), { excludeTestServices: true })
 * // in a test: yield* time.setTime(Date.parse("2030-01-01T00:00:00Z"))
 * ```
 * The time starts at 0 (1970-01-01T00:00:00Z), as the TestClock's does.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface ManualClock {
  /** The clock, for `Parts.clock`. */
  readonly clock: Clock.Clock
  /** The clock as the `Clock` of the tests (for fixtures that write timestamps). */
  readonly layer: Layer.Layer<never>
  /** Sets the time (milliseconds since the epoch). */
  readonly setTime: (millis: number) => Effect.Effect<void>
  /** Moves the time by `duration`. */
  readonly adjust: (duration: Duration.Input) => Effect.Effect<void>
}

const liveSleep = (duration: Duration.Duration): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), Duration.toMillis(duration))
    return Effect.sync(() => clearTimeout(timer))
  })

export const make = (): ManualClock => {
  let now = 0
  const nanos = () => BigInt(now) * BigInt(1_000_000)
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => now,
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: () => process.hrtime.bigint(),
    monotonicTimeNanos: Effect.sync(() => process.hrtime.bigint()),
    sleep: liveSleep
  }
  return {
    clock,
    layer: Layer.succeed(Clock.Clock, clock),
    setTime: (millis) => Effect.sync(() => void (now = millis)),
    adjust: (duration) => Effect.sync(() => void (now += Duration.toMillis(Duration.fromInputUnsafe(duration))))
  }
}
