/**
 * The local process provisioner: a template version with `agent_command` runs that command as the
 * workspace, in its own process group, with the agent's identity in its environment. Versions without a
 * command are provisioned instantly.
 *
 * The command runs through Effect's `ChildProcessSpawner` (`effect/process`), detached in its own process
 * group. A stop sends SIGTERM to the whole group (dash does not forward signals to its child), waits up to
 * the grace period for the group while the agent shuts down and uploads its snapshot, then sends SIGKILL.
 *
 * ## The task app's port
 *
 * The agent listens on `AGENTAPI_PORT`, and taskd stores `http://127.0.0.1:<port>` as the task app's URL
 * before the process starts (the job runner records the agent and its app first). Between the choice and the
 * agent's `listen` there is a window of up to several seconds (the agent's runtime starting). Choosing the
 * port by binding port 0 and closing it, as taskd once did, loses tasks in that window: port 0 draws from
 * the kernel's ephemeral range, the same range every outgoing connection and every other "bind 0" probe on
 * the host draws from, so under load (dozens of agents starting and connecting back to taskd) another
 * socket takes the port and the agent dies with EADDRINUSE.
 *
 * Handing the listening socket to the agent would close the window, but an `agent_command` is any program
 * that takes a port number (agentapi, the demo agent), not an inherited file descriptor. So taskd does two
 * things instead, each covering what the other cannot:
 *
 * 1. **It allocates ports from a range only it hands out** (`TASKD_PORT_RANGE`, default 20000-29999): below
 *    Linux's ephemeral range (32768-60999) and IANA's (49152-65535), so the kernel never gives these ports
 *    to outgoing connections or port-0 binds. A port is held from `appUrl` until its workspace stops (its
 *    whole process group is gone), so two workspaces of this instance never share one, and a stopped
 *    agent's port is not reused before the agent is gone. A candidate is first probed by binding it on
 *    0.0.0.0; one that something else listens on (a service, another taskd on the host) is skipped. The
 *    search is next-fit from a random offset, so instances sharing a range on one host rarely meet, and a
 *    port just released is not the next one handed out.
 * 2. **It detects the start that failed anyway, and restarts the agent on another port.** What the range
 *    cannot rule out is a program that binds a port of the range explicitly between the probe and the
 *    agent's `listen` (another taskd instance on the same host with the same range, or an unrelated server).
 *    When the process exits on its own and, with its group stopped, its port is taken by someone else, or
 *    it printed EADDRINUSE within its first minute, the start failed on the port: taskd takes a new port,
 *    points the stored app URL at it (`onAppUrlChange`), and starts the command again with the same agent
 *    identity, up to 5 starts. The build stays succeeded; the task goes from initializing to active as if
 *    the first start had worked. Any other exit is what it always was: the workspace is gone and its
 *    agent off.
 */
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ChildProcess from "effect/process/ChildProcess"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import * as Instant from "./Instant.ts"
import { Provisioner, ProvisionFailed, type WorkspaceSpec } from "./Provisioner.ts"

/** The ports the task apps of local workspaces get, both ends included. */
export interface PortRange {
  readonly first: number
  readonly last: number
}

/** Below the ephemeral ranges of Linux (32768-60999) and of IANA (49152-65535): the kernel never picks these. */
export const defaultPortRange: PortRange = { first: 20000, last: 29999 }

export interface LocalProcessOptions {
  /** The URL the workspace reaches taskd at (CODER_AGENT_URL). */
  readonly accessUrl: Effect.Effect<string>
  /** How long a stopping workspace may take before SIGKILL. */
  readonly stopGrace: Duration.Input
  /** Called when a workspace's process exits without being stopped. */
  readonly onUnexpectedExit: (spec: WorkspaceSpec, code: number | null) => Effect.Effect<void>
  /** Called for each workspace stopped because taskd itself is shutting down, after it has stopped. */
  readonly onShutdownStop: (spec: WorkspaceSpec) => Effect.Effect<void>
  /** The ports task apps are given (default `defaultPortRange`; taskd reads `TASKD_PORT_RANGE`). */
  readonly portRange?: PortRange
  /**
   * Called when an agent could not listen on its port (someone else took it) and is started again on
   * another one: the task app's stored URL must become `appUrl` (`spec` still has the old one). Without it
   * such a start is an unexpected exit, as any other.
   */
  readonly onAppUrlChange?: (spec: WorkspaceSpec, appUrl: string) => Effect.Effect<void>
}

type StartSpec = WorkspaceSpec & { readonly appUrl: string }

type OnAppUrlChange = NonNullable<LocalProcessOptions["onAppUrlChange"]>

/** One start of a workspace's command. */
interface Attempt {
  readonly number: number
  readonly handle: ChildProcessSpawner.ChildProcessHandle
  /** Owns the process: closing it stops the process group (SIGTERM, the grace period, SIGKILL). */
  readonly scope: Scope.Closeable
  /** The fibers logging its stdout and stderr (they end when the group's pipes close). */
  readonly output: ReadonlyArray<Fiber.Fiber<void>>
  /** What its output said so far: EADDRINUSE within its first minute. */
  readonly said: { addressInUse: boolean }
}

interface Running {
  spec: StartSpec
  /** The port held for it, when its app URL came from this provisioner's range. */
  port: number | undefined
  attempt: Attempt
  stopping: boolean
  /** A stop and the handling of an exit (perhaps a new start) take turns. */
  readonly lock: Semaphore.Semaphore
}

/** How many times one start build may start the command when it fails on its port. */
const maxStarts = 5

/** An EADDRINUSE the command prints within this long after it started counts as a failed start. */
const startupWindowMillis = 60_000

/** How long an exited workspace's output may take to be read to its end after its group was stopped. */
const outputDrain = Duration.seconds(2)

/**
 * Whether nothing listens on `port` of any IPv4 address: it can be bound on 0.0.0.0 (and is released at
 * once). A port with a listener on 127.0.0.1 or on the wildcard, or used by a connected socket, is not free.
 */
export const portIsFree = (port: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const server = createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen({ port, host: "0.0.0.0" }, () => server.close(() => resume(Effect.succeed(true))))
    return Effect.sync(() => server.close())
  })

const portOf = (appUrl: string): number | undefined => {
  try {
    const port = Number(new URL(appUrl).port)
    return Number.isInteger(port) && port > 0 ? port : undefined
  } catch {
    return undefined
  }
}

/** The kernel's ephemeral port range on Linux, if it can be read. */
const ephemeralRange = (): PortRange | undefined => {
  try {
    const [first, last] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(
      Number
    )
    return first !== undefined && last !== undefined && Number.isInteger(first) && Number.isInteger(last)
      ? { first, last }
      : undefined
  } catch {
    return undefined
  }
}

export const make = Effect.fnUntraced(function*(options: LocalProcessOptions) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  // Fibers that outlive the call that started them (output, exit watchers) belong to the provisioner; they
  // are interrupted after the shutdown's stops, so a stopping agent's last lines are still logged.
  const background = yield* Scope.make()
  const running = new Map<string, Running>()
  const stopGrace = Duration.fromInputUnsafe(options.stopGrace)
  const range = options.portRange ?? defaultPortRange
  const rangeText = `${range.first}-${range.last}`
  const rangeSize = range.last - range.first + 1

  const ephemeral = ephemeralRange()
  if (ephemeral !== undefined && range.first <= ephemeral.last && ephemeral.first <= range.last) {
    yield* Effect.logWarning(
      `TASKD_PORT_RANGE ${rangeText} overlaps the kernel's ephemeral ports ${ephemeral.first}-${ephemeral.last}: ` +
        "outgoing connections may take a workspace's port (its agent is then restarted on another)"
    )
  }

  /** The ports handed out and not yet given back, with the workspace each one is for. */
  const held = new Map<number, string>()
  /** Where the next search starts (an offset in the range): next-fit from a random place. */
  let cursor = Math.floor(Math.random() * rangeSize)

  /** A port of the range that no workspace holds and nothing listens on, held for `workspaceId`. */
  const allocate = (workspaceId: string) =>
    Effect.gen(function*() {
      for (let tried = 0; tried < rangeSize; tried++) {
        const port = range.first + cursor
        cursor = (cursor + 1) % rangeSize
        if (held.has(port)) continue
        // Held before the probe, so a concurrent allocation passes over it.
        held.set(port, workspaceId)
        const free = yield* portIsFree(port).pipe(Effect.onInterrupt(() => Effect.sync(() => held.delete(port))))
        if (free) return port
        held.delete(port)
      }
      return yield* new ProvisionFailed({
        reason: `no free port for the task app in TASKD_PORT_RANGE ${rangeText} (${held.size} held by workspaces)`
      })
    })

  const release = (port: number | undefined, workspaceId: string) => {
    if (port !== undefined && held.get(port) === workspaceId) held.delete(port)
  }

  /** Gives back the ports of `workspaceId` that no running process of it uses. */
  const releaseIdle = (workspaceId: string) => {
    const inUse = running.get(workspaceId)?.port
    for (const [port, owner] of held) {
      if (owner === workspaceId && port !== inUse) held.delete(port)
    }
  }

  const annotate = (spec: WorkspaceSpec) =>
    Effect.annotateLogs({ task_id: spec.taskId ?? "", workspace_id: spec.workspaceId })

  const logLines = (
    spec: WorkspaceSpec,
    name: "stdout" | "stderr",
    output: Stream.Stream<Uint8Array, unknown>,
    said: Attempt["said"],
    startedAt: number
  ) =>
    output.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => {
        if (line.includes("EADDRINUSE") && Date.now() - startedAt <= startupWindowMillis) said.addressInUse = true
        return Effect.logInfo(line).pipe(Effect.annotateLogs({ stream: name }))
      }),
      Effect.ignore,
      annotate(spec)
    )

  /**
   * Spawns the command for `spec` (its port is `spec.appUrl`'s) and has `register` record it, with nothing
   * able to interrupt in between: a process nobody knows of would never stop.
   */
  const spawn = (spec: StartSpec, number: number, register: (attempt: Attempt) => Effect.Effect<void>) =>
    Effect.gen(function*() {
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
      yield* Effect.uninterruptible(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const handle = yield* spawner.spawn(command).pipe(
          Scope.provide(scope),
          Effect.onError(() => Scope.close(scope, Exit.void)),
          Effect.mapError((error) => new ProvisionFailed({ reason: `could not start the workspace: ${error.message}` }))
        )
        const said = { addressInUse: false }
        const startedAt = Date.now()
        // The output is logged until the process group closes it, a stop's last lines included.
        const output = [
          yield* Effect.forkIn(logLines(spec, "stdout", handle.stdout, said, startedAt), background),
          yield* Effect.forkIn(logLines(spec, "stderr", handle.stderr, said, startedAt), background)
        ]
        yield* register({ number, handle, scope, output, said })
      }))
    })

  /** Stops the process of `workspaceId`, if one runs, and gives back its port. */
  const stopProcess = (workspaceId: string) =>
    Effect.gen(function*() {
      const workspace = running.get(workspaceId)
      if (workspace === undefined) return
      workspace.stopping = true
      // The spawner's release sends SIGTERM to the group, waits for the whole group up to the grace period
      // (on the wall clock), then sends SIGKILL. Under the lock: an exit being handled may be starting the
      // command again, and that start is the one to stop.
      const started = Date.now()
      yield* workspace.lock.withPermits(1)(Effect.suspend(() => Scope.close(workspace.attempt.scope, Exit.void)))
      if (Date.now() - started >= Duration.toMillis(stopGrace)) {
        yield* Effect.logWarning("workspace did not stop within the grace period; it was killed").pipe(
          annotate(workspace.spec)
        )
      }
      if (running.get(workspaceId) === workspace) running.delete(workspaceId)
      release(workspace.port, workspaceId)
    }).pipe(Effect.uninterruptible)

  const stop = (workspaceId: string) =>
    Effect.andThen(stopProcess(workspaceId), Effect.sync(() => releaseIdle(workspaceId)))

  /**
   * Whether the exited `attempt` failed to start on its port, and may be started again on another. Its group
   * has been stopped, so a port still taken is someone else's.
   */
  const failedOnPort = (workspace: Running, attempt: Attempt) =>
    Effect.gen(function*() {
      if (workspace.port === undefined || attempt.number >= maxStarts) return false
      if (attempt.said.addressInUse) return true
      if (!(yield* portIsFree(workspace.port))) return true
      // Its last lines may not have been read yet (a process the agent left behind may hold its output open:
      // bounded).
      yield* Fiber.awaitAll(attempt.output).pipe(Effect.timeoutOption(outputDrain))
      return attempt.said.addressInUse
    })

  /** Starts the command of `workspace` again on a new port; false when that is not possible. */
  const restartOnNewPort = (workspace: Running, attempt: Attempt, onAppUrlChange: OnAppUrlChange) =>
    Effect.gen(function*() {
      const workspaceId = workspace.spec.workspaceId
      const oldPort = workspace.port
      release(oldPort, workspaceId)
      workspace.port = undefined
      const port = yield* Effect.option(allocate(workspaceId))
      if (Option.isNone(port)) return false
      workspace.port = port.value
      const appUrl = `http://127.0.0.1:${port.value}`
      yield* Effect.logWarning(
        `the agent could not listen on port ${oldPort}, which another program took; starting it again on port ` +
          `${port.value} (start ${attempt.number + 1} of at most ${maxStarts})`
      )
      yield* onAppUrlChange(workspace.spec, appUrl)
      workspace.spec = { ...workspace.spec, appUrl }
      // A stop came meanwhile (it waits for this to finish): nothing more to start.
      if (workspace.stopping) return true
      const started = yield* Effect.result(spawn(workspace.spec, attempt.number + 1, (next) =>
        Effect.andThen(
          Effect.sync(() => workspace.attempt = next),
          Effect.forkIn(watch(workspace, next), background)
        )))
      if (started._tag === "Success") return true
      yield* Effect.logWarning(started.failure.reason)
      return false
    }).pipe(
      Effect.catchCause((cause) =>
        Effect.as(Effect.logWarning("could not start the workspace again on another port", cause), false)
      )
    )

  /**
   * Runs when the process exits: unless taskd stopped it, either it failed on its port and starts again on
   * another, or the workspace is gone and its agent is off.
   */
  const watch = (workspace: Running, attempt: Attempt): Effect.Effect<void> =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(attempt.handle.exitCode)
      if (workspace.stopping) return
      yield* workspace.lock.withPermits(1)(Effect.gen(function*() {
        if (workspace.stopping || workspace.attempt !== attempt) return
        const code = Exit.isSuccess(exit) ? Number(exit.value) : null
        // Whatever is left of the group is stopped like a workspace.
        yield* Scope.close(attempt.scope, Exit.void)
        const onAppUrlChange = options.onAppUrlChange
        if (onAppUrlChange !== undefined && (yield* failedOnPort(workspace, attempt))) {
          if (yield* restartOnNewPort(workspace, attempt, onAppUrlChange)) return
        }
        const workspaceId = workspace.spec.workspaceId
        if (running.get(workspaceId) === workspace) running.delete(workspaceId)
        release(workspace.port, workspaceId)
        yield* Effect.logWarning(`workspace process exited on its own (code ${code})`)
        yield* options.onUnexpectedExit(workspace.spec, code)
      }))
    }).pipe(
      Effect.catchCause((cause) => Effect.logWarning("could not handle the exit of a workspace", cause)),
      annotate(workspace.spec)
    )

  const start = (spec: StartSpec) =>
    Effect.gen(function*() {
      if (spec.agentCommand === "") return
      yield* stopProcess(spec.workspaceId)
      const appPort = portOf(spec.appUrl)
      const port = appPort !== undefined && held.get(appPort) === spec.workspaceId ? appPort : undefined
      yield* spawn(spec, 1, (attempt) => {
        const workspace: Running = { spec, port, attempt, stopping: false, lock: Semaphore.makeUnsafe(1) }
        running.set(spec.workspaceId, workspace)
        return Effect.asVoid(Effect.forkIn(watch(workspace, attempt), background))
      }).pipe(Effect.tapError(() => Effect.sync(() => release(port, spec.workspaceId))))
    })

  const appUrl = (spec: WorkspaceSpec) =>
    spec.agentCommand === ""
      ? Instant.make.appUrl(spec)
      : Effect.suspend(() => {
        // A port handed out for an earlier start of this workspace that never ran (its job failed before
        // the start) comes back now.
        releaseIdle(spec.workspaceId)
        return Effect.map(allocate(spec.workspaceId), (port) => `http://127.0.0.1:${port}`)
      })

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

/** Reads `<first>-<last>` (ports 1-65535, first ≤ last), or says what is wrong with it. */
export const parsePortRange = (text: string): PortRange | string => {
  const match = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text)
  if (match === null) return `"${text}" is not <first>-<last>, e.g. 20000-29999`
  const first = Number(match[1])
  const last = Number(match[2])
  if (first < 1 || last > 65535) return `ports must be between 1 and 65535`
  if (first > last) return `the first port (${first}) is above the last (${last})`
  return { first, last }
}

/** TASKD_PORT_RANGE: the ports task apps of local workspaces get (default 20000-29999). */
export const PortRangeConfig: Config.Config<PortRange> = Config.option(Config.String("TASKD_PORT_RANGE")).pipe(
  Config.mapEffect((text) => {
    if (Option.isNone(text)) return Effect.succeed(defaultPortRange)
    const parsed = parsePortRange(text.value)
    return typeof parsed === "string"
      ? Effect.fail(
        new Config.ConfigError(new ConfigProvider.SourceError({ message: `TASKD_PORT_RANGE: ${parsed}` }))
      )
      : Effect.succeed(parsed)
  })
)

/** The spawner the provisioner runs commands with (Node's; Deno runs it through its Node compatibility). */
const spawnerLayer = NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer]))

export const layer = (options: LocalProcessOptions): Layer.Layer<Provisioner> =>
  Layer.effect(Provisioner, make(options)).pipe(Layer.provide(spawnerLayer))
