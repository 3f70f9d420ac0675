/**
 * Driving tasks through their life over HTTP, on the live clock: create through the API, wait for the job
 * runner to reach a status (polling on real time, whatever clock the test runs on), act as the workspace
 * agent with the token taskd issued (the recording provisioner of Workspaces.ts).
 */
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { Task, TaskStatus } from "../../src/Domain/Task.ts"
import type { TestUser } from "./Fixtures.ts"
import { sleepLive } from "./Net.ts"
import { clientFor } from "./TestServer.ts"
import { agentTokenOf, type Recorded } from "./Workspaces.ts"

/** How long a job may take to be picked up and run before a wait gives up. */
export const defaultDeadlineMs = 20_000

/** Polls `probe` until `done` holds or the deadline passes; dies with `describe(last)` on timeout. */
export const pollUntil = <A, E, R>(
  probe: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  describe: (last: A | undefined) => string,
  deadlineMs = defaultDeadlineMs
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + deadlineMs
    let last: A | undefined = undefined
    while (Date.now() < deadline) {
      last = yield* probe
      if (done(last)) return last
      yield* sleepLive(40)
    }
    return yield* Effect.die(new Error(`timed out after ${deadlineMs} ms: ${describe(last)}`))
  })

/** GET the task (as `token`) until its status is `status`; returns that task. Uses real time. */
export const waitForStatus = (token: string, taskId: string, status: TaskStatus, deadlineMs = defaultDeadlineMs) =>
  Effect.gen(function*() {
    const client = yield* clientFor(token)
    return yield* pollUntil(
      client.tasks.get({ params: { user: "me", task: taskId } }).pipe(Effect.orDie),
      (task) => task.status === status,
      (last) => `task ${taskId} never became ${status}; last status ${last?.status ?? "(none)"}`,
      deadlineMs
    )
  })

/** Creates a task as `user` (for `me`) through the typed client. */
export const createTask = (
  user: TestUser,
  versionId: string,
  fields: { readonly input?: string; readonly name?: string; readonly display_name?: string } = {}
) =>
  Effect.gen(function*() {
    const client = yield* clientFor(user.token)
    return yield* client.tasks.create({
      params: { user: "me" },
      payload: { template_version_id: versionId, input: fields.input ?? "do the thing", ...withoutInput(fields) }
    })
  }).pipe(Effect.orDie)

const withoutInput = (fields: { readonly name?: string; readonly display_name?: string }) => ({
  ...(fields.name === undefined ? {} : { name: fields.name }),
  ...(fields.display_name === undefined ? {} : { display_name: fields.display_name })
})

/** The agent token of the task's latest start, once the provisioner was asked to start it (after `after` starts). */
export const agentToken = (record: Recorded, taskId: string, startsBefore = 0) =>
  pollUntil(
    Effect.sync(() => record.starts.filter((spec) => spec.taskId === taskId).length),
    (count) => count > startsBefore,
    () => `the provisioner never started task ${taskId} (start #${startsBefore + 1})`
  ).pipe(Effect.map(() => agentTokenOf(record, taskId)!))

/** Acts as the workspace agent of `token`: reads its manifest, then reports lifecycle and app health. */
export const actAsAgent = (
  token: string,
  options: {
    readonly lifecycle?: "ready" | "starting" | "off" | "shutting_down"
    readonly health?: "healthy" | "unhealthy" | "initializing"
  }
) =>
  Effect.gen(function*() {
    const agent = yield* clientFor(token)
    const manifest = yield* agent.agent.manifest()
    const app = manifest.apps.find((candidate) => candidate.slug === "task-app")
    if (app === undefined) return yield* Effect.die(new Error("the agent's manifest has no task-app"))
    if (options.lifecycle !== undefined) yield* agent.agent.reportLifecycle({ payload: { state: options.lifecycle } })
    if (options.health !== undefined) {
      yield* agent.agent.appHealth({ payload: { healths: { [app.id]: options.health } } })
    }
    return { manifest, appId: app.id }
  }).pipe(Effect.orDie)

/** Creates a task and drives it to `active`: waits for its agent, reports ready and healthy. */
export const createActiveTask = (user: TestUser, versionId: string, record: Recorded, input = "do the thing") =>
  Effect.gen(function*() {
    const created = yield* createTask(user, versionId, { input })
    const token = yield* agentToken(record, created.id)
    const { appId, manifest } = yield* actAsAgent(token, { lifecycle: "ready", health: "healthy" })
    yield* waitForStatus(user.token, created.id, "active")
    // Active can show while the start job is still finishing; wait until it has, so a pause is not refused.
    const task: Task = yield* waitForBuildDone(user.token, created.id)
    return { task, agentToken: token, appId, manifest }
  })

/**
 * The one configuration override for a test server: `vars` as if they were in the environment, in front of
 * the real environment. Provide it to the server's layer: `TestServer.layer(backend).pipe(Layer.provide(...))`.
 */
export const withEnv = (vars: Record<string, string>): Layer.Layer<never> =>
  ConfigProvider.layerAdd(ConfigProvider.fromEnv({ env: vars }), { asPrimary: true })

/** A configuration in which the job runner has no workers: every build stays queued (pending). */
export const noJobWorkers = withEnv({ TASKD_JOB_WORKERS: "0" })

/** The standard 404 body (spec §1.3). */
export const standard404 = { message: "Resource not found or you do not have access to this resource" }

/** Go's `time.Time` encoding of a UTC time: RFC 3339, fraction without trailing zeros. */
export const goTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$/

/** Coder's NameValid. */
export const nameValid = (name: string) =>
  Buffer.byteLength(name) >= 1 && Buffer.byteLength(name) <= 32 && name !== "new" && name !== "create" &&
  /^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$/.test(name)

/** GET the task until `done` holds. */
export const waitForTask = (
  token: string,
  taskId: string,
  done: (task: Task) => boolean,
  what: string,
  deadlineMs = defaultDeadlineMs
) =>
  Effect.gen(function*() {
    const client = yield* clientFor(token)
    return yield* pollUntil(
      client.tasks.get({ params: { user: "me", task: taskId } }).pipe(Effect.orDie),
      done,
      (last) =>
        `task ${taskId}: ${what} never held; last status ${last?.status}, workspace ${last?.workspace_status}, ` +
        `build ${last?.workspace_build_number}`,
      deadlineMs
    )
  })

/** Waits until the latest build's job has finished (the workspace is running, stopped or failed). */
export const waitForBuildDone = (token: string, taskId: string) =>
  waitForTask(
    token,
    taskId,
    (task) => ["running", "stopped", "failed", "canceled", "deleted"].includes(task.workspace_status ?? ""),
    "the build finished"
  )

/** Pauses the task once its current build is done, and waits until it is paused. */
export const pauseTask = (token: string, taskId: string) =>
  Effect.gen(function*() {
    yield* waitForBuildDone(token, taskId)
    const client = yield* clientFor(token)
    const { workspace_build } = yield* client.tasks.pause({ params: { user: "me", task: taskId } }).pipe(Effect.orDie)
    const task = yield* waitForStatus(token, taskId, "paused")
    return { build: workspace_build, task }
  })
