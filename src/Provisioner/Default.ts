/**
 * taskd's default provisioning: the local process provisioner (instant for template versions without an
 * `agent_command`), reaching taskd at TASKD_ACCESS_URL or else at the address the HTTP server listens on.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { AgentRepo } from "../Workspaces/AgentRepo.ts"
import { JobRepo } from "./JobRepo.ts"
import * as LocalProcess from "./LocalProcess.ts"

/** The URL workspaces use to reach this server. */
const accessUrl = Effect.gen(function*() {
  const configured = yield* Config.option(Config.string("TASKD_ACCESS_URL")).pipe(Effect.orDie)
  if (Option.isSome(configured)) return configured.value
  const server = yield* Effect.serviceOption(HttpServer.HttpServer)
  if (Option.isSome(server) && server.value.address._tag === "TcpAddress") {
    const { hostname, port } = server.value.address
    const host = hostname === "0.0.0.0" || hostname === "::"
      ? "127.0.0.1"
      : hostname.includes(":")
      ? `[${hostname}]`
      : hostname
    return `http://${host}:${port}`
  }
  return "http://127.0.0.1:8080"
})

export const layer = Layer.unwrapEffect(Effect.gen(function*() {
  const stopGrace = yield* LocalProcess.StopGrace
  const agents = yield* AgentRepo
  const jobs = yield* JobRepo
  const context = yield* Effect.context<never>()
  return LocalProcess.layer({
    accessUrl: Effect.provide(accessUrl, context),
    stopGrace,
    onUnexpectedExit: (spec) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => agents.setLifecycle(spec.agentId, "off", new Date(now))),
    // A workspace stopped because taskd shut down is paused, like one stopped by a stop build.
    onShutdownStop: (spec) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => jobs.recordStopped(spec.workspaceId, new Date(now)))
  })
})).pipe(Layer.provide([AgentRepo.Default, JobRepo.Default]))
