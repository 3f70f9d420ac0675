/**
 * The instant provisioner: nothing runs; the app URL is the template's. Builds succeed at once, and the
 * agent is whatever reports with the agent token (a remote workspace, a test).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Provisioner } from "./Provisioner.ts"

export const make: Provisioner["Service"] = Provisioner.of({
  appUrl: (spec) => Effect.succeed(spec.templateAppUrl),
  start: () => Effect.void,
  stop: () => Effect.void,
  stopAll: Effect.void
})

export const layer = Layer.succeed(Provisioner, make)
