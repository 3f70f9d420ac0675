/**
 * Resolves `{user}/{task}` as Coder's ExtractTaskParam does (spec §2.2): the task id first, then the name
 * under that owner. Not found and not permitted are the same 404.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { UserActor } from "../Domain/Actor.ts"
import { BadRequest, type NotFound, resourceNotFound } from "../Domain/CoderError.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { resolveUserParam } from "../Users/UserParam.ts"
import type { UserRepo } from "../Users/UserRepo.ts"
import { TaskRepo, type TaskRow, type Visibility } from "./TaskRepo.ts"

export const visibilityOf = (actor: UserActor): Visibility => ({ userId: actor.id, seesAll: actor.role === "owner" })

export const resolveTask = (
  path: { readonly user: string; readonly task: string },
  actor: UserActor
): Effect.Effect<TaskRow, BadRequest | NotFound, TaskRepo | UserRepo> =>
  Effect.gen(function*() {
    const tasks = yield* TaskRepo
    const visibility = visibilityOf(actor)
    if (path.task === "") return yield* new BadRequest({ message: `"task" must be provided.` })
    const id = parseUuid(path.task)
    if (Either.isRight(id)) {
      const byId = yield* tasks.findById(id.right, visibility)
      if (byId !== undefined) return byId
    }
    const owner = yield* resolveUserParam(path.user, actor)
    const byName = yield* tasks.findByOwnerAndName(owner.id, path.task, visibility)
    if (byName === undefined) return yield* resourceNotFound()
    return byName
  })
