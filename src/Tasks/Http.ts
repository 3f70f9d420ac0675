/**
 * Handlers of the Tasks API (spec §3), served under /api/v2 and /api/experimental alike: one implementation,
 * registered for both groups. Path, query and payload arrive decoded by the framework from the declaration
 * (src/Api.ts); Coder's error bodies for bad input and for defects come from the groups' middleware. The
 * `{user}/{task}` endpoints get their task from the TaskParam middleware (src/Tasks/TaskParam.ts), resolved
 * before any body is read, as `CurrentTask`.
 */
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { AgentApiClient } from "../AgentApi/AgentApiClient.ts"
import { Api } from "../Api.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { BadRequest, Conflict, InternalServerError } from "../Domain/CoderError.ts"
import { type CreateTaskRequest, CurrentTask, TasksListResponse } from "../Domain/Task.ts"
import { logsFromSnapshot } from "../Snapshots/SnapshotLogs.ts"
import { SnapshotRepo } from "../Snapshots/SnapshotRepo.ts"
import { resolveUserParam } from "../Users/UserParam.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { liveLogs, sendInput } from "./Conversation.ts"
import { parseTaskSearch } from "./SearchQuery.ts"
import { TaskCommands } from "./TaskCommands.ts"
import { visibilityOf } from "./TaskParam.ts"
import { TaskRepo } from "./TaskRepo.ts"
import { toTask } from "./TaskView.ts"

// Encoded here, synchronously: for long lists (10,000 tasks) that is a third cheaper than the response
// encoder's Effect-based pass over the same schema. Without its checks (the UUID patterns, integers), which
// values read from uuid and integer columns always pass: a fifth less again, the same bytes.
const encodeList = Schema.encodeSync(TasksListResponse, { disableChecks: true })

/** The handlers of one tasks group; both groups register this same object. */
const makeHandlers = Effect.gen(function*() {
  const tasks = yield* TaskRepo
  const commands = yield* TaskCommands
  const snapshots = yield* SnapshotRepo
  // What the helpers below read per request, captured once so that handlers only need what the
  // middlewares provide (CurrentUser, CurrentTask).
  const services = yield* Effect.context<TaskRepo | UserRepo | AgentApiClient>()

  const list = Effect.fn("Tasks.list")(function*({ query }: { readonly query: { readonly q?: string | undefined } }) {
    const actor = yield* CurrentUser
    const { errors, search } = yield* parseTaskSearch(query.q ?? "", actor).pipe(Effect.provideContext(services))
    if (errors.length > 0) {
      return yield* new BadRequest({ message: "Invalid task search query.", validations: errors })
    }
    const rows = yield* tasks.list(search, visibilityOf(actor))
    return HttpServerResponse.jsonUnsafe(encodeList({ tasks: rows.map(toTask), count: rows.length }))
  })

  const create = Effect.fn("Tasks.create")(function*({ params, payload }: {
    readonly params: { readonly user: string }
    readonly payload: CreateTaskRequest
  }) {
    const actor = yield* CurrentUser
    const owner = yield* resolveUserParam(params.user, actor).pipe(Effect.provideContext(services))
    return toTask(yield* commands.create(actor, owner, payload))
  })

  const get = Effect.fn("Tasks.get")(function*() {
    return toTask(yield* CurrentTask)
  })

  const remove = Effect.fn("Tasks.delete")(function*() {
    const actor = yield* CurrentUser
    yield* commands.remove(actor, yield* CurrentTask)
  })

  const updateInput = Effect.fn("Tasks.updateInput")(function*({ payload }: {
    readonly payload: { readonly input: string }
  }) {
    yield* commands.updateInput(yield* CurrentTask, payload.input)
  })

  /** Spec §3.7: the task (middleware), the body, then the input, untrimmed. */
  const send = Effect.fn("Tasks.send")(function*({ payload }: { readonly payload: { readonly input: string } }) {
    const row = yield* CurrentTask
    if (payload.input === "") return yield* new BadRequest({ message: "Task input is required." })
    yield* sendInput(row, payload.input).pipe(Effect.provideContext(services))
  })

  /** Spec §3.6: live from agentapi while active, from the snapshot while paused or starting. */
  const logs = Effect.fn("Tasks.logs")(function*() {
    const row = yield* CurrentTask
    switch (row.status) {
      case "active":
        return yield* liveLogs(row).pipe(Effect.provideContext(services))
      case "paused":
      case "pending":
      case "initializing":
        return yield* logsFromSnapshot(yield* snapshots.find(row.id)).pipe(
          Effect.catchTags({
            SnapshotUndecodable: (error) =>
              Effect.fail(
                new InternalServerError({ message: "Internal error decoding task snapshot.", detail: error.detail })
              ),
            SnapshotFormatUnsupported: (error) =>
              Effect.fail(
                new InternalServerError({
                  message: "Unsupported task snapshot format.",
                  detail: `Expected format "agentapi", got ${JSON.stringify(error.format)}.`
                })
              ),
            InvalidRole: (error) =>
              Effect.fail(new InternalServerError({ message: "Invalid snapshot data.", detail: error.message }))
          })
        )
      default:
        return yield* new Conflict({
          message: "Cannot fetch logs for task in current state.",
          detail: `Task status is ${JSON.stringify(row.status)}.`
        })
    }
  })

  const pause = Effect.fn("Tasks.pause")(function*() {
    const actor = yield* CurrentUser
    return { workspace_build: yield* commands.pause(actor, yield* CurrentTask) }
  })

  const resume = Effect.fn("Tasks.resume")(function*() {
    const actor = yield* CurrentUser
    return { workspace_build: yield* commands.resume(actor, yield* CurrentTask) }
  })

  return { list, create, get, delete: remove, updateInput, send, logs, pause, resume } as const
})

/** The two groups are the same endpoints under two prefixes: one set of handlers, registered for each. */
const tasksGroup = HttpApiBuilder.group(
  Api,
  "tasks",
  (handlers) => Effect.map(makeHandlers, (implementation) => handlers.handleAll(implementation))
)

const experimentalTasksGroup = HttpApiBuilder.group(
  Api,
  "experimentalTasks",
  (handlers) => Effect.map(makeHandlers, (implementation) => handlers.handleAll(implementation))
)

export const TasksHandlers = Layer.mergeAll(tasksGroup, experimentalTasksGroup).pipe(
  Layer.provide(Layer.mergeAll(TaskRepo.layer, TaskCommands.layer, SnapshotRepo.layer, UserRepo.layer))
)
