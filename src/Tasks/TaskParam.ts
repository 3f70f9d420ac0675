/**
 * Resolves `{user}/{task}` as Coder's ExtractTaskParam does (spec §2.2): the task id first, then the name
 * under that owner. Not found and not permitted are the same 404.
 *
 * `TaskParamLive` implements the TaskParam middleware declared in src/Api.ts: every `{user}/{task}`
 * endpoint resolves its task there, after authentication and before any body is read, and its handler
 * reads the row as `CurrentTask`.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { TaskParam } from "../Api.ts"
import { CurrentUser, type UserActor } from "../Domain/Actor.ts"
import { BadRequest, type NotFound, resourceNotFound } from "../Domain/CoderError.ts"
import { CurrentTask } from "../Domain/Task.ts"
import type { TaskRow } from "../Domain/Task.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { resolveUserParam } from "../Users/UserParam.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { TaskRepo, type Visibility } from "./TaskRepo.ts"

export const visibilityOf = (actor: UserActor): Visibility => ({ userId: actor.id, seesAll: actor.role === "owner" })

export const resolveTask = Effect.fnUntraced(function*(
  path: { readonly user: string; readonly task: string },
  actor: UserActor
): Effect.fn.Return<TaskRow, BadRequest | NotFound, TaskRepo | UserRepo> {
  const tasks = yield* TaskRepo
  const visibility = visibilityOf(actor)
  if (path.task === "") return yield* new BadRequest({ message: `"task" must be provided.` })
  const id = parseUuid(path.task)
  if (Result.isSuccess(id)) {
    const byId = yield* tasks.findById(id.success, visibility)
    if (byId !== undefined) return byId
  }
  const owner = yield* resolveUserParam(path.user, actor)
  const byName = yield* tasks.findByOwnerAndName(owner.id, path.task, visibility)
  if (byName === undefined) return yield* resourceNotFound()
  return byName
})

/**
 * The TaskParam middleware: the signed-in user's task named by the raw `{user}` and `{task}` path
 * segments (the framework decodes `params` only after the middlewares; both are plain strings), provided
 * to the handler as `CurrentTask`.
 */
export const TaskParamLive = Layer.effect(
  TaskParam,
  Effect.gen(function*() {
    const services = yield* Effect.context<TaskRepo | UserRepo>()
    return (httpEffect) =>
      Effect.gen(function*() {
        const actor = yield* CurrentUser
        const { task, user } = yield* HttpRouter.params
        const row = yield* resolveTask({ user: user ?? "", task: task ?? "" }, actor).pipe(
          Effect.provideContext(services)
        )
        return yield* Effect.provideService(httpEffect, CurrentTask, row)
      })
  })
).pipe(Layer.provide([TaskRepo.layer, UserRepo.layer]))
