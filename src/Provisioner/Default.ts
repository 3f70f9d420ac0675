/**
 * taskd's default provisioning: the local process provisioner (instant for template versions without an
 * `agent_command`), reaching taskd at TASKD_ACCESS_URL or else at the address the HTTP server listens on,
 * giving task apps ports of TASKD_PORT_RANGE.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/Config"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Option from "effect/Option"
import type * as SqlClient from "effect/sql/SqlClient"
import { AgentRepo } from "../Workspaces/AgentRepo.ts"
import { JobRepo } from "./JobRepo.ts"
import * as LocalProcess from "./LocalProcess.ts"
import type { Provisioner } from "./Provisioner.ts"

/** The URL workspaces use to reach this server. */
const accessUrl = Effect.gen(function*() {
  const configured = yield* Config.option(Config.String("TASKD_ACCESS_URL")).pipe(Effect.orDie)
  if (Option.isSome(configured)) return configured.value
  const server = yield* Effect.serviceOption(HttpServer.HttpServer)
  if (Option.isSome(server) && NetAddress.isInetAddress(server.value.address)) {
    const { address, port } = server.value.address
    const host = NetAddress.isUnspecified(address)
      ? "127.0.0.1"
      : NetAddress.formatUrlHostString(NetAddress.formatIp(address))
    return `http://${host}:${port}`
  }
  return "http://127.0.0.1:8080"
})

export const layer: Layer.Layer<Provisioner, ConfigError, SqlClient.SqlClient> = Layer.unwrap(Effect.gen(function*() {
  const stopGrace = yield* LocalProcess.StopGrace
  const portRange = yield* LocalProcess.PortRangeConfig
  const agents = yield* AgentRepo
  const jobs = yield* JobRepo
  const context = yield* Effect.context<never>()
  return LocalProcess.layer({
    accessUrl: Effect.provideContext(accessUrl, context),
    stopGrace,
    portRange,
    // An agent started again on another port (its first one was taken): the task's app URL follows it.
    onAppUrlChange: (spec, appUrl) => agents.setAppUrl(spec.agentId, spec.appSlug, appUrl),
    onUnexpectedExit: (spec) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => agents.setLifecycle(spec.agentId, "off", new Date(now))),
    // A workspace stopped because taskd shut down is paused, like one stopped by a stop build.
    onShutdownStop: (spec) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => jobs.recordStopped(spec.workspaceId, new Date(now)))
  })
})).pipe(Layer.provide([AgentRepo.layer, JobRepo.layer]))
