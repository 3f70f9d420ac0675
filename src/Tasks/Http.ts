/**
 * Handlers of the Tasks API (spec §3), served under /api/v2 and /api/experimental alike.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { AgentApiClient } from "../AgentApi/AgentApiClient.ts"
import { Api } from "../Api.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { BadRequest, Conflict, InternalServerError, type ServiceUnavailable } from "../Domain/CoderError.ts"
import { CreateTaskRequest, TaskInputRequest, TasksListResponse } from "../Domain/Task.ts"
import { readJsonAs, withBody } from "../Http/Body.ts"
import { edge } from "../Http/Edge.ts"
import { invalidJson } from "../Http/Responses.ts"
import { logsFromSnapshot } from "../Snapshots/SnapshotLogs.ts"
import { SnapshotRepo } from "../Snapshots/SnapshotRepo.ts"
import { resolveUserParam } from "../Users/UserParam.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { liveLogs, sendInput } from "./Conversation.ts"
import { parseTaskSearch } from "./SearchQuery.ts"
import { TaskCommands } from "./TaskCommands.ts"
import { resolveTask, visibilityOf } from "./TaskParam.ts"
import { TaskRepo } from "./TaskRepo.ts"
import { toTask } from "./TaskView.ts"

const encodeList = Schema.encodeSync(TasksListResponse)

type TaskPath = { readonly user: string; readonly task: string }

const makeHandlers = Effect.gen(function*() {
  const tasks = yield* TaskRepo
  const commands = yield* TaskCommands
  const snapshots = yield* SnapshotRepo
  const context = yield* Effect.context<TaskRepo | UserRepo | AgentApiClient>()

  const task = (path: TaskPath) => Effect.flatMap(CurrentUser, (actor) => resolveTask(path, actor))

  const list = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      const actor = yield* CurrentUser
      // Like Go's `Query().Get("q")`: the first `q` counts, other parameters are ignored.
      const q = new URL(request.url, "http://taskd").searchParams.get("q") ?? ""
      const { errors, search } = yield* parseTaskSearch(q, actor)
      if (errors.length > 0) {
        return yield* new BadRequest({ message: "Invalid task search query.", validations: errors })
      }
      const rows = yield* tasks.list(search, visibilityOf(actor))
      // Encoded here, synchronously: for long lists that is a third cheaper than the response encoder's
      // Effect-based pass over the same schema.
      return HttpServerResponse.unsafeJson(encodeList({ tasks: rows.map(toTask), count: rows.length }))
    })

  const create = (user: string, request: HttpServerRequest.HttpServerRequest) =>
    withBody(readJsonAs(request, CreateTaskRequest), invalidJson, (body) =>
      Effect.gen(function*() {
        const actor = yield* CurrentUser
        const owner = yield* resolveUserParam(user, actor)
        return toTask(yield* commands.create(actor, owner, body))
      }))

  /** Spec §3.6: live from agentapi while active, from the snapshot while paused or starting. */
  const logs = (path: TaskPath) =>
    Effect.gen(function*() {
      const row = yield* task(path)
      switch (row.status) {
        case "active":
          return yield* liveLogs(row)
        case "paused":
        case "pending":
        case "initializing":
          return yield* logsFromSnapshot(yield* snapshots.find(row.id)).pipe(
            Effect.catchTags({
              SnapshotUndecodable: (error) =>
                new InternalServerError({ message: "Internal error decoding task snapshot.", detail: error.detail }),
              SnapshotFormatUnsupported: (error) =>
                new InternalServerError({
                  message: "Unsupported task snapshot format.",
                  detail: `Expected format "agentapi", got ${JSON.stringify(error.format)}.`
                }),
              InvalidRole: (error) =>
                new InternalServerError({ message: "Invalid snapshot data.", detail: error.message })
            })
          )
        default:
          return yield* new Conflict({
            message: "Cannot fetch logs for task in current state.",
            detail: `Task status is ${JSON.stringify(row.status)}.`
          })
      }
    })

  const handlers = {
    list: ({ request }: { request: HttpServerRequest.HttpServerRequest }) => list(request),
    create: ({ path, request }: { path: { user: string }; request: HttpServerRequest.HttpServerRequest }) =>
      create(path.user, request),
    get: ({ path }: { path: TaskPath }) => Effect.map(task(path), toTask),
    delete: ({ path }: { path: TaskPath }) =>
      Effect.gen(function*() {
        const actor = yield* CurrentUser
        yield* commands.remove(actor, yield* task(path))
      }),
    updateInput: ({ path, request }: { path: TaskPath; request: HttpServerRequest.HttpServerRequest }) =>
      Effect.flatMap(
        task(path),
        (row) =>
          withBody(readJsonAs(request, TaskInputRequest), invalidJson, (body) => commands.updateInput(row, body.input))
      ),
    send: ({ path, request }: { path: TaskPath; request: HttpServerRequest.HttpServerRequest }) =>
      withBody(readJsonAs(request, TaskInputRequest), invalidJson, (body) =>
        body.input === ""
          ? Effect.fail(new BadRequest({ message: "Task input is required." }))
          : Effect.flatMap(task(path), (row) => sendInput(row, body.input))),
    logs: ({ path }: { path: TaskPath }) => logs(path),
    pause: ({ path }: { path: TaskPath }) =>
      Effect.gen(function*() {
        const actor = yield* CurrentUser
        return { workspace_build: yield* commands.pause(actor, yield* task(path)) }
      }),
    resume: ({ path }: { path: TaskPath }) =>
      Effect.gen(function*() {
        const actor = yield* CurrentUser
        return { workspace_build: yield* commands.resume(actor, yield* task(path)) }
      })
  }
  /** Every handler ends at the edge, with the repositories it reads provided. */
  const serve = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    edge(effect).pipe(Effect.provide(context)) as Effect.Effect<
      A,
      E | InternalServerError | ServiceUnavailable,
      Exclude<R, TaskRepo | UserRepo | AgentApiClient>
    >
  return { handlers, serve }
})

// The two groups are the same endpoints under two prefixes; TypeScript needs each chain spelled out.
const tasksGroup = HttpApiBuilder.group(
  Api,
  "tasks",
  (builder) =>
    Effect.map(makeHandlers, ({ handlers: h, serve }) =>
      builder
        .handleRaw("list", (req) => serve(h.list(req)))
        .handleRaw("create", (req) => serve(h.create(req)))
        .handle("get", (req) => serve(h.get(req)))
        .handle("delete", (req) => serve(h.delete(req)))
        .handleRaw("updateInput", (req) => serve(h.updateInput(req)))
        .handleRaw("send", (req) => serve(h.send(req)))
        .handle("logs", (req) => serve(h.logs(req)))
        .handle("pause", (req) => serve(h.pause(req)))
        .handle("resume", (req) => serve(h.resume(req))))
)

const experimentalTasksGroup = HttpApiBuilder.group(
  Api,
  "experimentalTasks",
  (builder) =>
    Effect.map(makeHandlers, ({ handlers: h, serve }) =>
      builder
        .handleRaw("list", (req) => serve(h.list(req)))
        .handleRaw("create", (req) => serve(h.create(req)))
        .handle("get", (req) => serve(h.get(req)))
        .handle("delete", (req) => serve(h.delete(req)))
        .handleRaw("updateInput", (req) => serve(h.updateInput(req)))
        .handleRaw("send", (req) => serve(h.send(req)))
        .handle("logs", (req) => serve(h.logs(req)))
        .handle("pause", (req) => serve(h.pause(req)))
        .handle("resume", (req) => serve(h.resume(req))))
)

const dependencies = Layer.mergeAll(TaskRepo.Default, TaskCommands.Default, SnapshotRepo.Default, UserRepo.Default)

export const TasksHandlers = Layer.mergeAll(tasksGroup, experimentalTasksGroup).pipe(
  Layer.provide(dependencies)
)
