/**
 * Runs provisioner jobs: claims them from the database, creates the agent of a start build, and asks the
 * Provisioner to start or stop the workspace. Each instance runs a few workers; a new job wakes this
 * instance at once (JobSignal), other instances find it by polling.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { generateAgentToken, hashSecret } from "../Auth/Tokens.ts"
import { type JobContext, JobRepo } from "./JobRepo.ts"
import { Provisioner } from "./Provisioner.ts"

/** Wakes the job runner of this instance after a build was queued. */
export class JobSignal extends Context.Tag("taskd/JobSignal")<JobSignal, { readonly notify: Effect.Effect<void> }>() {}

export const JobRunnerConfig = Config.all({
  workers: Config.integer("TASKD_JOB_WORKERS").pipe(Config.withDefault(4)),
  poll: Config.duration("TASKD_JOB_POLL").pipe(Config.withDefault(Duration.seconds(1))),
  staleAfter: Config.duration("TASKD_JOB_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60)))
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
        return Effect.zipRight(
          provisioner.stop(job.workspaceId),
          Effect.flatMap(now, (at) => jobs.agentsOff(job.workspaceId, at))
        )
      case "delete":
        return Effect.zipRight(
          provisioner.stop(job.workspaceId),
          Effect.flatMap(now, (at) => jobs.workspaceDeleted(job.workspaceId, at))
        )
    }
  }

  const heartbeat = (job: JobContext) =>
    Effect.forever(Effect.zipRight(Effect.sleep(heartbeatEvery), jobs.heartbeat(job.jobId, workerId)))

  const run = (job: JobContext) =>
    execute(job).pipe(
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.zipRight(
            Effect.logWarning(`${job.transition} build failed: ${error.reason}`),
            jobs.complete(job.jobId, workerId, { error: error.reason })
          ),
        onSuccess: () => jobs.complete(job.jobId, workerId, {})
      }),
      Effect.raceFirst(heartbeat(job)),
      Effect.annotateLogs({ job_id: job.jobId, workspace_id: job.workspaceId, task_id: job.taskId ?? "" })
    )

  /** One worker: run jobs while there are any, then wait for a signal or the poll interval. */
  const worker = Effect.gen(function*() {
    const job = yield* jobs.acquire(workerId, staleSeconds)
    if (job !== undefined) return yield* run(job)
    yield* Effect.raceFirst(Queue.take(wakeup), Effect.sleep(config.poll))
  }).pipe(
    Effect.catchAllCause((cause) =>
      Effect.zipRight(Effect.logError("job runner error", cause), Effect.sleep(config.poll))
    ),
    Effect.forever
  )

  // Polling and heartbeats are infrastructure timing: they follow the wall clock even when the handlers
  // run on a test clock.
  const wallClock = Clock.make()
  for (let i = 0; i < config.workers; i++) yield* Effect.forkScoped(Effect.withClock(worker, wallClock))
  return { notify: Effect.asVoid(Queue.offer(wakeup, undefined)) }
})

/** The job runner of this instance; provides the JobSignal the handlers use. */
export const layer = Layer.scoped(JobSignal, make).pipe(Layer.provide(JobRepo.Default))
