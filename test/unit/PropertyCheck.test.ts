/**
 * The property checks of test/support/Property.ts cannot pass by accident: a property that runs fewer
 * cases than asked (here, cut short by its time limit) fails, as does one whose case fails; one that runs
 * every case passes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import fc from "fast-check"
import { assertAsyncProperty, assertProperty } from "../support/Property.ts"

const busyWait = (ms: number) => {
  const until = Date.now() + ms
  while (Date.now() < until) { /* spin */ }
}

/** The message of what `run` throws, or undefined when it returns. */
const thrown = (run: () => void): string | undefined => {
  try {
    run()
    return undefined
  } catch (error) {
    return String(error)
  }
}

describe("property checks", () => {
  it("a property that runs every case passes, and runs exactly that many", () => {
    let runs = 0
    assertProperty(fc.property(fc.integer(), () => void runs++), { numRuns: 50 })
    assert.strictEqual(runs, 50)
  })

  it("a property cut short by its time limit fails, though no case failed", () => {
    const message = thrown(() =>
      assertProperty(fc.property(fc.integer(), () => busyWait(5)), { numRuns: 1_000, timeLimitMs: 50 })
    )
    assert.isDefined(message, "a run of a few cases out of 1000 passed")
    assert.match(message!, /ran \d+ of 1000 cases, interrupted after 50 ms/)
  })

  it("a property whose case fails reports the counterexample", () => {
    const message = thrown(() => assertProperty(fc.property(fc.nat(), (n) => n < 10), { numRuns: 200 }))
    assert.match(message!, /Counterexample: \[10\]/)
  })

  it.live("an asynchronous property cut short by its time limit fails", () =>
    Effect.gen(function*() {
      const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
      const exit = yield* Effect.exit(
        assertAsyncProperty(fc.asyncProperty(fc.integer(), () => sleep(10)), { numRuns: 1_000, timeLimitMs: 100 })
      )
      assert.isTrue(Exit.isFailure(exit), "a run of a few cases out of 1000 passed")
      if (Exit.isFailure(exit)) {
        assert.match(String(Cause.squash(exit.cause)), /ran \d+ of 1000 cases, interrupted after 100 ms/)
      }
    }))

  it.live("an asynchronous property that runs every case passes", () =>
    Effect.gen(function*() {
      let runs = 0
      yield* assertAsyncProperty(fc.asyncProperty(fc.integer(), async () => void runs++), { numRuns: 30 })
      assert.strictEqual(runs, 30)
    }))
})
