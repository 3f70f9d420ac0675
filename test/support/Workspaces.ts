/**
 * A provisioner for tests: it provisions instantly, like taskd's instant provisioner, and remembers each
 * workspace's spec, so a test can act as the workspace agent with the token taskd issued.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Instant from "../../src/Provisioner/Instant.ts"
import { Provisioner, type WorkspaceSpec } from "../../src/Provisioner/Provisioner.ts"

export interface Recorded {
  /** Every start, in order. */
  readonly starts: Array<WorkspaceSpec & { readonly appUrl: string }>
  /** Every stop, in order (workspace ids). */
  readonly stops: Array<string>
}

/** A recording provisioner and the record it writes to. */
export const recording = () => {
  const record: Recorded = { starts: [], stops: [] }
  const layer = Layer.succeed(Provisioner, {
    appUrl: Instant.make.appUrl,
    start: (spec) => Effect.sync(() => void record.starts.push(spec)),
    stop: (workspaceId) => Effect.sync(() => void record.stops.push(workspaceId)),
    stopAll: Effect.void
  })
  return { record, layer }
}

/** The latest agent token issued for a task's workspace. */
export const agentTokenOf = (record: Recorded, taskId: string): string | undefined =>
  record.starts.filter((spec) => spec.taskId === taskId).at(-1)?.agentToken
