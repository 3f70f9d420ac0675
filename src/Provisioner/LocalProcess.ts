/**
 * The local process provisioner: a template version with `agent_command` runs that command as the
 * workspace, in its own process group, with the agent's identity in its environment. Versions without a
 * command are provisioned instantly.
 *
 * A stop sends SIGTERM to the whole group (dash does not forward signals to its child), waits up to the
 * grace period while the agent shuts down and uploads its snapshot, then sends SIGKILL.
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { createInterface } from "node:readline"
import type { Readable } from "node:stream"
import * as Instant from "./Instant.ts"
import { Provisioner, ProvisionFailed, type WorkspaceSpec } from "./Provisioner.ts"

export interface LocalProcessOptions {
  /** The URL the workspace reaches taskd at (CODER_AGENT_URL). */
  readonly accessUrl: Effect.Effect<string>
  /** How long a stopping workspace may take before SIGKILL. */
  readonly stopGrace: Duration.DurationInput
  /** Called when a workspace's process exits without being stopped. */
  readonly onUnexpectedExit: (spec: WorkspaceSpec, code: number | null) => Effect.Effect<void>
  /** Called for each workspace stopped because taskd itself is shutting down, after it has stopped. */
  readonly onShutdownStop: (spec: WorkspaceSpec) => Effect.Effect<void>
}

interface Running {
  readonly spec: WorkspaceSpec
  readonly pid: number
  readonly exited: Promise<void>
  stopping: boolean
}

/** A free TCP port on the loopback interface. */
const freePort = Effect.async<number, ProvisionFailed>((resume) => {
  const server = createServer()
  server.once(
    "error",
    (error) => resume(Effect.fail(new ProvisionFailed({ reason: `no free port: ${error.message}` })))
  )
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** True while any process of the group is alive. */
const groupAlive = (pid: number): boolean => {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is already gone.
  }
}

/** Waits until the process group is gone, or `timeout` passes; true if it is gone. */
const waitForGroup = (pid: number, timeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(timeout)
    while (groupAlive(pid) && Date.now() < deadline) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
    return !groupAlive(pid)
  })

export const make = (options: LocalProcessOptions) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runFork(runtime)
    const running = new Map<string, Running>()

    const pipeLines = (stream: Readable, spec: WorkspaceSpec, name: "stdout" | "stderr") =>
      createInterface({ input: stream }).on("line", (line) =>
        run(
          Effect.logInfo(line).pipe(
            Effect.annotateLogs({ task_id: spec.taskId ?? "", workspace_id: spec.workspaceId, stream: name })
          )
        ))

    const stop = (workspaceId: string) =>
      Effect.gen(function*() {
        const workspace = running.get(workspaceId)
        if (workspace === undefined) return
        workspace.stopping = true
        signalGroup(workspace.pid, "SIGTERM")
        const gone = yield* waitForGroup(workspace.pid, options.stopGrace)
        if (!gone) {
          yield* Effect.logWarning("workspace did not stop within the grace period; killing it").pipe(
            Effect.annotateLogs({ workspace_id: workspaceId })
          )
          signalGroup(workspace.pid, "SIGKILL")
          yield* waitForGroup(workspace.pid, "5 seconds")
        }
        yield* Effect.promise(() => workspace.exited)
        running.delete(workspaceId)
      }).pipe(Effect.uninterruptible)

    const start = (spec: WorkspaceSpec & { readonly appUrl: string }) =>
      Effect.gen(function*() {
        if (spec.agentCommand === "") return
        yield* stop(spec.workspaceId)
        const accessUrl = yield* options.accessUrl
        const port = new URL(spec.appUrl).port
        const child = yield* Effect.try({
          try: () =>
            spawn("/bin/sh", ["-c", spec.agentCommand], {
              detached: true,
              stdio: ["ignore", "pipe", "pipe"],
              env: {
                ...process.env,
                CODER_AGENT_URL: accessUrl,
                CODER_AGENT_TOKEN: spec.agentToken,
                CODER_TASK_ID: spec.taskId ?? "",
                CODER_TASK_PROMPT: spec.prompt,
                CODER_AGENT_APP_SLUG: spec.appSlug,
                AGENTAPI_PORT: port
              }
            }),
          catch: (error) => new ProvisionFailed({ reason: `could not start the workspace: ${String(error)}` })
        })
        if (child.pid === undefined) {
          return yield* new ProvisionFailed({ reason: `could not start the workspace command` })
        }
        pipeLines(child.stdout!, spec, "stdout")
        pipeLines(child.stderr!, spec, "stderr")
        const workspace: Running = {
          spec,
          pid: child.pid,
          stopping: false,
          exited: new Promise((resolve) => child.once("exit", () => resolve()))
        }
        child.once("exit", (code) => {
          if (workspace.stopping) return
          running.delete(spec.workspaceId)
          signalGroup(workspace.pid, "SIGTERM")
          run(
            Effect.logWarning(`workspace process exited on its own (code ${code})`).pipe(
              Effect.zipRight(options.onUnexpectedExit(spec, code)),
              Effect.annotateLogs({ task_id: spec.taskId ?? "", workspace_id: spec.workspaceId })
            )
          )
        })
        running.set(spec.workspaceId, workspace)
      })

    const appUrl = (spec: WorkspaceSpec) =>
      spec.agentCommand === "" ? Instant.make.appUrl(spec) : Effect.map(freePort, (port) => `http://127.0.0.1:${port}`)

    // On shutdown every workspace is stopped the way a stop build stops it.
    const stopAll = Effect.suspend(() => {
      const workspaces = [...running.values()]
      if (workspaces.length === 0) return Effect.void
      return Effect.zipRight(
        Effect.logInfo(`stopping ${workspaces.length} workspace(s)`),
        Effect.forEach(
          workspaces,
          (workspace) =>
            Effect.zipRight(
              stop(workspace.spec.workspaceId),
              options.onShutdownStop(workspace.spec).pipe(
                Effect.catchAllCause((cause) => Effect.logWarning("could not record the stop of a workspace", cause))
              )
            ),
          { concurrency: "unbounded", discard: true }
        )
      )
    })

    // Whatever still runs when the provisioner goes away is stopped the same way.
    yield* Effect.addFinalizer(() => stopAll)

    return { appUrl, start, stop, stopAll }
  })

/** TASKD_STOP_GRACE: how long a stopping workspace may take (default 30 s). */
export const StopGrace = Config.duration("TASKD_STOP_GRACE").pipe(Config.withDefault(Duration.seconds(30)))

export const layer = (options: LocalProcessOptions) => Layer.scoped(Provisioner, make(options))
