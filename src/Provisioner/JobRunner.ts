/**
 * Runs provisioner jobs: claims them from the database, creates the agent of a start build, and asks the
 * Provisioner to start or stop the workspace. Each instance runs a few workers; a new job wakes this
 * instance at once (JobSignal), other instances find it by polling.
 *
 * The runner is this instance as far as jobs go: it registers the instance in the database, heartbeats
 * it, and when it is closed (the instance shuts down) it puts the jobs it still holds back in the queue
 * and marks the instance stopped, so another instance takes them over at once. Once the instance's
 * shutdown has begun (Lifecycle) it claims no job and starts no workspace: a start job it claimed in that
 * moment goes back to the queue for another instance, or for this one's next start.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { generateAgentToken, hashSecret } from "../Auth/Tokens.ts"
import { Lifecycle } from "../Health/Lifecycle.ts"
import * as Metrics from "../Observability/Metrics.ts"
import { type JobContext, JobRepo } from "./JobRepo.ts"
import { Provisioner, type ProvisionFailed } from "./Provisioner.ts"

/** Wakes the job runner of this instance after a build was queued. */
export class JobSignal
  extends Context.Service<JobSignal, { readonly notify: Effect.Effect<void> }>()("taskd/JobSignal")
{}

/**
 * This taskd instance as the job runner registered it in taskd_instances and heartbeats it: what other
 * work claimed per instance (the recorders) is claimed under, so that it is taken over when the instance is.
 */
export class TaskdInstance extends Context.Service<TaskdInstance, {
  readonly id: string
  /** How old its heartbeat may get before other instances take its work over (TASKD_INSTANCE_TIMEOUT). */
  readonly staleAfter: Duration.Duration
}>()("taskd/TaskdInstance") {}

export const JobRunnerConfig = Config.all({
  workers: Config.Int("TASKD_JOB_WORKERS").pipe(Config.withDefault(4)),
  poll: Config.Duration("TASKD_JOB_POLL").pipe(Config.withDefault(Duration.seconds(1))),
  staleAfter: Config.Duration("TASKD_JOB_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  instanceStaleAfter: Config.Duration("TASKD_INSTANCE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(15)))
})

/** How often to heartbeat something that counts as gone after `staleAfter`: four times within it. */
const heartbeatInterval = (staleAfter: Duration.Duration) =>
  Duration.millis(Math.max(250, Duration.toMillis(staleAfter) / 4))

/** Whole seconds, at least one. */
const wholeSeconds = (duration: Duration.Duration) => Math.max(1, Math.round(Duration.toSeconds(duration)))

/** The slug of the task app, as in Coder's test templates. */
export const taskAppSlug = "task-app"

export const make = Effect.gen(function*() {
  const config = yield* JobRunnerConfig
  const jobs = yield* JobRepo
  const provisioner = yield* Provisioner
  const lifecycle = yield* Lifecycle
  const wakeup = yield* Queue.sliding<void>(1)
  const instanceId = randomUUID()
  const workerId = `${hostname()}/${process.pid}/${instanceId.slice(0, 8)}`
  const claimant = { workerId, instanceId }
  const staleSeconds = wholeSeconds(config.staleAfter)
  const heartbeatEvery = heartbeatInterval(config.staleAfter)
  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  /** Starts the workspace of a start build; answers false, starting nothing, once shutdown has begun. */
  const start = (job: JobContext) =>
    lifecycle.unlessDraining(Effect.gen(function*() {
      const agentId = randomUUID()
      const agentToken = generateAgentToken()
      const spec = {
        workspaceId: job.workspaceId,
        buildNumber: job.buildNumber,
        taskId: job.taskId,
        prompt: job.prompt,
        agentId,
        agentToken,
        appSlug: taskAppSlug,
        templateAppUrl: job.templateAppUrl,
        agentCommand: job.agentCommand
      }
      const appUrl = yield* provisioner.appUrl(spec)
      yield* jobs.createAgent(job, {
        agentId,
        tokenHash: hashSecret(agentToken),
        appId: randomUUID(),
        appSlug: taskAppSlug,
        appUrl,
        at: yield* now
      })
      yield* provisioner.start({ ...spec, appUrl })
    })).pipe(Effect.map(Option.isSome))

  /** Runs the job; answers whether it ran (false: shutdown began before its workspace was started). */
  const execute = (job: JobContext): Effect.Effect<boolean, ProvisionFailed> => {
    switch (job.transition) {
      case "start":
        return start(job)
      case "stop":
        return provisioner.stop(job.workspaceId).pipe(
          Effect.andThen(Effect.flatMap(now, (at) => jobs.agentsOff(job.workspaceId, at))),
          Effect.as(true)
        )
      case "delete":
        return provisioner.stop(job.workspaceId).pipe(
          Effect.andThen(Effect.flatMap(now, (at) => jobs.workspaceDeleted(job.workspaceId, at))),
          Effect.as(true)
        )
    }
  }

  /** Keeps the job claimed while it runs: a heartbeat every quarter of the takeover timeout, the first after one. */
  const heartbeat = (job: JobContext) =>
    Effect.schedule(jobs.heartbeat(job.jobId, workerId), Schedule.spaced(heartbeatEvery)).pipe(
      Effect.andThen(Effect.never)
    )

  const run = (job: JobContext) =>
    execute(job).pipe(
      Metrics.observeJob(job.transition),
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.andThen(
            Effect.logWarning(`${job.transition} build failed: ${error.reason}`),
            jobs.complete(job.jobId, workerId, { error: error.reason })
          ),
        onSuccess: (ran) =>
          ran
            ? jobs.complete(job.jobId, workerId, {})
            : Effect.andThen(
              Effect.logInfo("shutting down: the start build goes back to the queue"),
              jobs.release(job.jobId, workerId)
            )
      }),
      Effect.raceFirst(heartbeat(job)),
      Effect.annotateLogs({ job_id: job.jobId, workspace_id: job.workspaceId, task_id: job.taskId ?? "" }),
      // A trace of its own per job: the worker that runs it belongs to no request.
      Effect.withSpan("JobRunner.run", {
        root: true,
        kind: "consumer",
        attributes: {
          "taskd.job.id": job.jobId,
          "taskd.job.transition": job.transition,
          "taskd.workspace.id": job.workspaceId,
          ...(job.taskId === null ? {} : { "taskd.task.id": job.taskId })
        }
      })
    )

  /**
   * Polling and heartbeats make no spans: with traces exported, a trace per poll of every worker would
   * bury the jobs' traces.
   */
  const untraced = Effect.withTracerEnabled(false)

  /**
   * One round: run a job if there is one, else wait for a signal or the poll interval. Once shutdown has
   * begun, claim nothing more: wait to be interrupted.
   */
  const round = Effect.gen(function*() {
    if (yield* lifecycle.draining) return yield* Effect.never
    const job = yield* untraced(jobs.acquire(claimant, staleSeconds))
    if (job !== undefined) return yield* run(job)
    yield* Effect.raceFirst(Queue.take(wakeup), Effect.sleep(config.poll))
  })

  /**
   * One worker: rounds forever. A round that fails or dies (the database is away) is logged and retried
   * after the poll interval.
   */
  const worker = round.pipe(
    Effect.sandbox,
    Effect.tapError((cause) => Effect.logError("job runner error", cause)),
    Effect.retry(Schedule.spaced(config.poll)),
    Effect.forever
  )

  /** Keeps the instance alive in the database; a failed beat (the database is away) is logged and retried. */
  const instanceHeartbeat = jobs.instanceHeartbeat(instanceId).pipe(
    Effect.sandbox,
    Effect.tapError((cause) => Effect.logWarning("instance heartbeat failed", cause)),
    Effect.ignore,
    Effect.repeat(Schedule.spaced(heartbeatInterval(config.instanceStaleAfter))),
    untraced
  )

  yield* jobs.registerInstance({
    id: instanceId,
    hostname: hostname(),
    pid: process.pid,
    staleSeconds: wholeSeconds(config.instanceStaleAfter)
  })
  // Added before the workers are forked, so it runs after they are interrupted: the jobs they leave are
  // put back for other instances, and the instance is recorded as stopped.
  yield* Effect.addFinalizer(() =>
    jobs.stopInstance(instanceId).pipe(
      Effect.tap((released) =>
        released === 0 ? Effect.void : Effect.logInfo(`put ${released} unfinished job(s) back in the queue`)
      ),
      Effect.catchCause((cause) => Effect.logWarning("could not record this instance as stopped", cause))
    )
  )

  // Polling and heartbeats are infrastructure timing: they follow the wall clock even when the handlers
  // run on a test clock.
  const wallClock = Clock.Clock.defaultValue()
  yield* Effect.forkScoped(Effect.provideService(instanceHeartbeat, Clock.Clock, wallClock))
  for (let i = 0; i < config.workers; i++) {
    yield* Effect.forkScoped(Effect.provideService(worker, Clock.Clock, wallClock))
  }
  return Context.make(JobSignal, JobSignal.of({ notify: Effect.asVoid(Queue.offer(wakeup, undefined)) })).pipe(
    Context.add(TaskdInstance, TaskdInstance.of({ id: instanceId, staleAfter: config.instanceStaleAfter }))
  )
})

/**
 * The job runner of this instance without its repository; provides the JobSignal the handlers use and the
 * TaskdInstance it registered.
 */
export const layerNoDeps: Layer.Layer<
  JobSignal | TaskdInstance,
  ConfigError,
  JobRepo | Provisioner | Lifecycle
> = Layer.effectContext(make)

/** The job runner of this instance; provides the JobSignal the handlers use and the TaskdInstance. */
export const layer: Layer.Layer<
  JobSignal | TaskdInstance,
  ConfigError,
  SqlClient.SqlClient | Provisioner | Lifecycle
> = layerNoDeps
  .pipe(
    Layer.provide(JobRepo.layer)
  )
