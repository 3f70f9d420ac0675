/**
 * Runs provisioner jobs: claims them from the database, creates the agent of a start build, and asks the
 * Provisioner to start or stop the workspace. Each instance runs a few workers; a new job wakes this
 * instance at once (JobSignal), other instances find it by polling.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { generateAgentToken, hashSecret } from "../Auth/Tokens.ts"
import { type JobContext, JobRepo } from "./JobRepo.ts"
import { Provisioner } from "./Provisioner.ts"

/** Wakes the job runner of this instance after a build was queued. */
export class JobSignal
  extends Context.Service<JobSignal, { readonly notify: Effect.Effect<void> }>()("taskd/JobSignal")
{}

export const JobRunnerConfig = Config.all({
  workers: Config.Int("TASKD_JOB_WORKERS").pipe(Config.withDefault(4)),
  poll: Config.Duration("TASKD_JOB_POLL").pipe(Config.withDefault(Duration.seconds(1))),
  staleAfter: Config.Duration("TASKD_JOB_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60)))
})

/** The slug of the task app, as in Coder's test templates. */
export const taskAppSlug = "task-app"

export const make = Effect.gen(function*() {
  const config = yield* JobRunnerConfig
  const jobs = yield* JobRepo
  const provisioner = yield* Provisioner
  const wakeup = yield* Queue.sliding<void>(1)
  const workerId = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`
  const staleSeconds = Math.max(1, Math.round(Duration.toSeconds(config.staleAfter)))
  const heartbeatEvery = Duration.millis(Math.max(250, Duration.toMillis(config.staleAfter) / 4))
  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  const start = (job: JobContext) =>
    Effect.gen(function*() {
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
    })

  const execute = (job: JobContext) => {
    switch (job.transition) {
      case "start":
        return start(job)
      case "stop":
        return Effect.andThen(
          provisioner.stop(job.workspaceId),
          Effect.flatMap(now, (at) => jobs.agentsOff(job.workspaceId, at))
        )
      case "delete":
        return Effect.andThen(
          provisioner.stop(job.workspaceId),
          Effect.flatMap(now, (at) => jobs.workspaceDeleted(job.workspaceId, at))
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
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.andThen(
            Effect.logWarning(`${job.transition} build failed: ${error.reason}`),
            jobs.complete(job.jobId, workerId, { error: error.reason })
          ),
        onSuccess: () => jobs.complete(job.jobId, workerId, {})
      }),
      Effect.raceFirst(heartbeat(job)),
      Effect.annotateLogs({ job_id: job.jobId, workspace_id: job.workspaceId, task_id: job.taskId ?? "" })
    )

  /** One round: run a job if there is one, else wait for a signal or the poll interval. */
  const round = Effect.gen(function*() {
    const job = yield* jobs.acquire(workerId, staleSeconds)
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

  // Polling and heartbeats are infrastructure timing: they follow the wall clock even when the handlers
  // run on a test clock.
  const wallClock = Clock.Clock.defaultValue()
  for (let i = 0; i < config.workers; i++) {
    yield* Effect.forkScoped(Effect.provideService(worker, Clock.Clock, wallClock))
  }
  return JobSignal.of({ notify: Effect.asVoid(Queue.offer(wakeup, undefined)) })
})

/** The job runner of this instance without its repository; provides the JobSignal the handlers use. */
export const layerNoDeps: Layer.Layer<JobSignal, ConfigError, JobRepo | Provisioner> = Layer.effect(JobSignal, make)

/** The job runner of this instance; provides the JobSignal the handlers use. */
export const layer: Layer.Layer<JobSignal, ConfigError, SqlClient.SqlClient | Provisioner> = layerNoDeps.pipe(
  Layer.provide(JobRepo.layer)
)
