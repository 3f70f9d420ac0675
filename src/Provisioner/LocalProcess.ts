/**
 * The local process provisioner: a template version with `agent_command` runs that command as the
 * workspace, in its own process group, with the agent's identity in its environment. Versions without a
 * command are provisioned instantly.
 *
 * The command runs through Effect's `ChildProcessSpawner` (`effect/process`), detached in its own process
 * group. A stop sends SIGTERM to the whole group (dash does not forward signals to its child), waits up to
 * the grace period for the group while the agent shuts down and uploads its snapshot, then sends SIGKILL.
 */
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ChildProcess from "effect/process/ChildProcess"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createServer } from "node:net"
import * as Instant from "./Instant.ts"
import { Provisioner, ProvisionFailed, type WorkspaceSpec } from "./Provisioner.ts"

export interface LocalProcessOptions {
  /** The URL the workspace reaches taskd at (CODER_AGENT_URL). */
  readonly accessUrl: Effect.Effect<string>
  /** How long a stopping workspace may take before SIGKILL. */
  readonly stopGrace: Duration.Input
  /** Called when a workspace's process exits without being stopped. */
  readonly onUnexpectedExit: (spec: WorkspaceSpec, code: number | null) => Effect.Effect<void>
  /** Called for each workspace stopped because taskd itself is shutting down, after it has stopped. */
  readonly onShutdownStop: (spec: WorkspaceSpec) => Effect.Effect<void>
}

interface Running {
  readonly spec: WorkspaceSpec
  readonly handle: ChildProcessSpawner.ChildProcessHandle
  /** Owns the process: closing it stops the process group (SIGTERM, the grace period, SIGKILL). */
  readonly scope: Scope.Closeable
  stopping: boolean
}

/** A free TCP port on the loopback interface (bound, then released). */
export const freePort: Effect.Effect<number, Error> = Effect.callback<number, Error>((resume) => {
  const server = createServer()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const make = Effect.fnUntraced(function*(options: LocalProcessOptions) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  // Fibers that outlive the call that started them (output, exit watchers) belong to the provisioner; they
  // are interrupted after the shutdown's stops, so a stopping agent's last lines are still logged.
  const background = yield* Scope.make()
  const running = new Map<string, Running>()
  const stopGrace = Duration.fromInputUnsafe(options.stopGrace)

  const annotate = (spec: WorkspaceSpec) =>
    Effect.annotateLogs({ task_id: spec.taskId ?? "", workspace_id: spec.workspaceId })

  const logLines = (spec: WorkspaceSpec, name: "stdout" | "stderr", output: Stream.Stream<Uint8Array, unknown>) =>
    output.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => Effect.logInfo(line).pipe(Effect.annotateLogs({ stream: name }))),
      Effect.ignore,
      annotate(spec)
    )

  const stop = (workspaceId: string) =>
    Effect.gen(function*() {
      const workspace = running.get(workspaceId)
      if (workspace === undefined) return
      workspace.stopping = true
      // The spawner's release sends SIGTERM to the group, waits for the whole group up to the grace period
      // (on the wall clock), then sends SIGKILL.
      const started = Date.now()
      yield* Scope.close(workspace.scope, Exit.void)
      if (Date.now() - started >= Duration.toMillis(stopGrace)) {
        yield* Effect.logWarning("workspace did not stop within the grace period; it was killed").pipe(
          annotate(workspace.spec)
        )
      }
      running.delete(workspaceId)
    }).pipe(Effect.uninterruptible)

  /** Runs when the process exits: unless taskd stopped it, the workspace is gone and its agent is off. */
  const watch = (workspace: Running) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(workspace.handle.exitCode)
      if (workspace.stopping) return
      running.delete(workspace.spec.workspaceId)
      const code = Exit.isSuccess(exit) ? Number(exit.value) : null
      yield* Effect.logWarning(`workspace process exited on its own (code ${code})`)
      yield* options.onUnexpectedExit(workspace.spec, code).pipe(
        // Whatever is left of the group is stopped like a workspace.
        Effect.ensuring(Scope.close(workspace.scope, Exit.void))
      )
    }).pipe(
      Effect.catchCause((cause) => Effect.logWarning("could not handle the exit of a workspace", cause)),
      annotate(workspace.spec)
    )

  const start = (spec: WorkspaceSpec & { readonly appUrl: string }) =>
    Effect.gen(function*() {
      if (spec.agentCommand === "") return
      yield* stop(spec.workspaceId)
      const accessUrl = yield* options.accessUrl
      const command = ChildProcess.make("/bin/sh", ["-c", spec.agentCommand], {
        detached: true,
        stdin: "ignore",
        extendEnv: true,
        env: {
          CODER_AGENT_URL: accessUrl,
          CODER_AGENT_TOKEN: spec.agentToken,
          CODER_TASK_ID: spec.taskId ?? "",
          CODER_TASK_PROMPT: spec.prompt,
          CODER_AGENT_APP_SLUG: spec.appSlug,
          AGENTAPI_PORT: new URL(spec.appUrl).port
        },
        // How the scope's release stops the group.
        killSignal: "SIGTERM",
        forceKillAfter: stopGrace
      })
      // From the spawn to the registration nothing may interrupt: a process nobody knows of would never stop.
      yield* Effect.uninterruptible(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const handle = yield* spawner.spawn(command).pipe(
          Scope.provide(scope),
          Effect.onError(() => Scope.close(scope, Exit.void)),
          Effect.mapError((error) => new ProvisionFailed({ reason: `could not start the workspace: ${error.message}` }))
        )
        // The output is logged until the process group closes it, a stop's last lines included.
        yield* Effect.forkIn(logLines(spec, "stdout", handle.stdout), background)
        yield* Effect.forkIn(logLines(spec, "stderr", handle.stderr), background)
        const workspace: Running = { spec, handle, scope, stopping: false }
        running.set(spec.workspaceId, workspace)
        yield* Effect.forkIn(watch(workspace), background)
      }))
    })

  const appUrl = (spec: WorkspaceSpec) =>
    spec.agentCommand === ""
      ? Instant.make.appUrl(spec)
      : freePort.pipe(
        Effect.map((port) => `http://127.0.0.1:${port}`),
        Effect.mapError((error) => new ProvisionFailed({ reason: `no free port: ${error.message}` }))
      )

  // On shutdown every workspace is stopped the way a stop build stops it.
  const stopAll = Effect.suspend(() => {
    const workspaces = [...running.values()]
    if (workspaces.length === 0) return Effect.void
    return Effect.andThen(
      Effect.logInfo(`stopping ${workspaces.length} workspace(s)`),
      Effect.forEach(
        workspaces,
        (workspace) =>
          Effect.andThen(
            stop(workspace.spec.workspaceId),
            options.onShutdownStop(workspace.spec).pipe(
              Effect.catchCause((cause) => Effect.logWarning("could not record the stop of a workspace", cause))
            )
          ),
        { concurrency: "unbounded", discard: true }
      )
    )
  })

  // Whatever still runs when the provisioner goes away is stopped the same way.
  yield* Effect.addFinalizer(() => Effect.andThen(stopAll, Scope.close(background, Exit.void)))

  return Provisioner.of({ appUrl, start, stop, stopAll })
})

/** TASKD_STOP_GRACE: how long a stopping workspace may take (default 30 s). */
export const StopGrace = Config.Duration("TASKD_STOP_GRACE").pipe(Config.withDefault(Duration.seconds(30)))

/** The spawner the provisioner runs commands with (Node's; Deno runs it through its Node compatibility). */
const spawnerLayer = NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer]))

export const layer = (options: LocalProcessOptions): Layer.Layer<Provisioner> =>
  Layer.effect(Provisioner, make(options)).pipe(Layer.provide(spawnerLayer))
