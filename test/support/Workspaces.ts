/**
 * A provisioner for tests: it provisions instantly, like taskd's instant provisioner, and remembers each
 * workspace's spec, so a test can act as the workspace agent with the token taskd issued. Its stops can be
 * held open, so that "a build is in progress" is a state, not a race; and a start whose prompt begins with
 * "FAIL" fails, as a broken template would.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Instant from "../../src/Provisioner/Instant.ts"
import { Provisioner, ProvisionFailed, type WorkspaceSpec } from "../../src/Provisioner/Provisioner.ts"

export interface Recorded {
  /** Every start, in order. */
  readonly starts: Array<WorkspaceSpec & { readonly appUrl: string }>
  /** Every stop, in order (workspace ids). */
  readonly stops: Array<string>
}

/** The recording provisioner, its record, and `hold` (see below). */
export const recording = () => {
  const record: Recorded = { starts: [], stops: [] }
  const held = new Map<string, Promise<void>>()
  const layer = Layer.succeed(Provisioner, {
    appUrl: Instant.make.appUrl,
    start: (spec) =>
      Effect.andThen(
        Effect.sync(() => void record.starts.push(spec)),
        spec.prompt.startsWith("FAIL")
          ? Effect.fail(new ProvisionFailed({ reason: "the workspace could not be started" }))
          : Effect.void
      ),
    stop: (workspaceId) =>
      Effect.andThen(
        Effect.promise(() => held.get(workspaceId) ?? Promise.resolve()),
        Effect.sync(() => void record.stops.push(workspaceId))
      ),
    stopAll: Effect.void
  })
  /**
   * Holds the workspace's next stops (and so its stop or delete job) until the returned effect, the
   * release, runs.
   */
  const hold = (workspaceId: string) =>
    Effect.sync(() => {
      let release: () => void = () => {}
      held.set(workspaceId, new Promise<void>((resolve) => release = resolve))
      return Effect.sync(() => {
        held.delete(workspaceId)
        release()
      })
    })
  return { record, layer, hold }
}

/** The latest agent token issued for a task's workspace. */
export const agentTokenOf = (record: Recorded, taskId: string): string | undefined =>
  record.starts.filter((spec) => spec.taskId === taskId).at(-1)?.agentToken
