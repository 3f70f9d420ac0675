/**
 * Property checks (fast-check) that cannot pass by accident. A plain `fc.assert` with a time limit counts
 * an interrupted run as a pass, however few cases it ran; here a property passes only when every one of the
 * `numRuns` cases ran and held. A run cut short by the time limit (or ending early for any other reason)
 * fails with how many cases it ran, and the seed to replay it.
 */
import * as Effect from "effect/Effect"
import fc from "fast-check"

export interface Bounds {
  /** The number of cases that must run, every one of them. */
  readonly numRuns: number
  /** A run still going after this long stops and FAILS (default 40 s), rather than hang until the test's timeout. */
  readonly timeLimitMs?: number
  /** To replay a failure: the seed (and path) fast-check printed. */
  readonly seed?: number
  readonly path?: string
}

const defaultTimeLimitMs = 40_000

/**
 * The time limit stops the run (fast-check would count the stop as a pass; `verdict` does not, and says how
 * many cases ran).
 */
const parameters = <Ts>(bounds: Bounds): fc.Parameters<Ts> => ({
  numRuns: bounds.numRuns,
  plugins: [fc.interruptAfterTimeLimit(bounds.timeLimitMs ?? defaultTimeLimitMs)],
  ...(bounds.seed === undefined ? {} : { seed: bounds.seed }),
  ...(bounds.path === undefined ? {} : { path: bounds.path })
})

/**
 * Why a run does not count, or undefined when every case ran and held: fast-check's report when a case
 * failed (or too many were skipped), else how many of the cases asked for ran.
 */
const verdict = <Ts>(details: fc.RunDetails<Ts>, bounds: Bounds, report: string | undefined): string | undefined => {
  if (details.failed) return report ?? "Property failed"
  if (details.numRuns === bounds.numRuns && !details.interrupted) return undefined
  return `Property ran ${details.numRuns} of ${bounds.numRuns} cases${
    details.interrupted ? `, interrupted after ${bounds.timeLimitMs ?? defaultTimeLimitMs} ms` : ""
  }: a run cut short fails (seed ${details.seed}).`
}

/** Checks a synchronous property: throws fast-check's report when a case fails, or when not all cases ran. */
export const assertProperty = <Ts>(property: fc.IProperty<Ts>, bounds: Bounds): void => {
  const details = fc.check(property, parameters<Ts>(bounds))
  const failure = verdict(details, bounds, details.failed ? fc.defaultReportMessage(details) : undefined)
  if (failure !== undefined) throw new Error(failure)
}

/** Checks an asynchronous property, as `assertProperty` does; dies with the report. */
export const assertAsyncProperty = <Ts>(property: fc.IAsyncProperty<Ts>, bounds: Bounds): Effect.Effect<void> =>
  Effect.promise(async () => {
    const details = await fc.check(property, parameters<Ts>(bounds))
    const failure = verdict(details, bounds, details.failed ? await fc.asyncDefaultReportMessage(details) : undefined)
    if (failure !== undefined) throw new Error(failure)
  })
