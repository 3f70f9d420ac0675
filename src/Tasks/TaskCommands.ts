/**
 * What users do to tasks: create, delete, update the prompt, pause, resume. Each is one transaction; a
 * queued build wakes this instance's job runner once it is committed.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import type { UserActor } from "../Domain/Actor.ts"
import { BadRequest, Conflict, InternalServerError, resourceNotFound } from "../Domain/CoderError.ts"
import { nameInvalidReason } from "../Domain/Name.ts"
import type { BuildReason, CreateTaskRequest, WorkspaceBuild } from "../Domain/Task.ts"
import type { TaskRow } from "../Domain/Task.ts"
import type { User } from "../Domain/User.ts"
import { JobSignal } from "../Provisioner/JobRunner.ts"
import { TemplateRepo } from "../Templates/TemplateRepo.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { BuildRepo } from "../Workspaces/BuildRepo.ts"
import { generateTaskName } from "./TaskName.ts"
import { visibilityOf } from "./TaskParam.ts"
import { TaskRepo } from "./TaskRepo.ts"

const buildInProgress = () =>
  Effect.fail(
    new Conflict({
      message: "A workspace build is already active.",
      detail: "Wait for the current build of the task's workspace to finish, then try again."
    })
  )

const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tasks = yield* TaskRepo
  const builds = yield* BuildRepo
  const templates = yield* TemplateRepo
  const users = yield* UserRepo
  const signal = yield* JobSignal
  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  /** Spec §3.2, in Coder's order of checks; a name in use is a 409 (Coder answers 500). */
  const create = (actor: UserActor, owner: User, request: CreateTaskRequest) =>
    Effect.gen(function*() {
      const version = yield* templates.findVersion(request.template_version_id)
      if (version === undefined) {
        return yield* new BadRequest({
          message: "Template version not found or you do not have access to this resource"
        })
      }
      if (version.has_ai_task !== true) {
        return yield* new BadRequest({ message: `Template does not have a valid "coder_ai_task" resource.` })
      }
      let name = request.name ?? ""
      if (name !== "") {
        const reason = nameInvalidReason(name)
        if (reason !== undefined) {
          return yield* new BadRequest({ message: "Unable to create a Task with the provided name.", detail: reason })
        }
      }
      let displayName = (request.display_name ?? "").trim()
      if (Buffer.byteLength(displayName, "utf8") > 64) {
        return yield* new BadRequest({ message: "Display name must be 64 characters or less." })
      }
      if (name === "" || displayName === "") {
        const generated = generateTaskName(request.input)
        if (name === "") name = generated.name
        if (displayName === "") displayName = generated.displayName
      }
      if (actor.role !== "owner" && owner.id !== actor.id) return yield* resourceNotFound()
      if (!(yield* users.isMember(version.organization_id, owner.id))) return yield* resourceNotFound()

      const taskId = randomUUID()
      const createdAt = yield* now
      // Read back inside the transaction: until it commits no job runner can claim the start job, so the
      // response shows the task as queued (pending), however fast the runners are.
      const created = yield* sql.withTransaction(Effect.gen(function*() {
        const workspaceId = randomUUID()
        yield* tasks.insertWithWorkspace({
          id: taskId,
          workspaceId,
          templateId: version.template_id,
          organizationId: version.organization_id,
          ownerId: owner.id,
          name,
          displayName,
          templateVersionId: version.id,
          prompt: request.input,
          createdAt
        })
        yield* builds.insert({
          workspaceId,
          transition: "start",
          reason: "initiator",
          initiatorId: actor.id,
          templateVersionId: version.id
        })
        return yield* tasks.findById(taskId, visibilityOf(actor))
      })).pipe(
        Effect.catchTags({
          TaskNameTaken: () =>
            Effect.fail(
              new Conflict({
                message: `A task named ${JSON.stringify(name)} already exists.`,
                detail: "Task names are unique per owner; choose another name or delete the other task."
              })
            ),
          WorkspaceNameTaken: () =>
            Effect.fail(
              new Conflict({
                message: `A workspace named ${JSON.stringify(name)} already exists.`,
                detail: "The task's workspace takes the task's name; a deleted task's workspace may still be " +
                  "deleting. Choose another name or try again shortly."
              })
            ),
          BuildInProgress: () => Effect.die(new Error("a new workspace has a build in progress")),
          SqlError: Effect.die
        })
      )
      yield* signal.notify
      if (created === undefined) {
        return yield* new InternalServerError({ message: "Internal error fetching task." })
      }
      return created
    })

  const queueBuild = (
    actor: UserActor,
    task: TaskRow,
    transition: "start" | "stop" | "delete",
    reason: BuildReason
  ) =>
    Effect.gen(function*() {
      if (task.workspace_id === null) {
        return yield* new InternalServerError({ message: "Task does not have a workspace." })
      }
      const workspaceId = task.workspace_id
      const build = yield* sql.withTransaction(
        builds.insert({ workspaceId, transition, reason, initiatorId: actor.id })
      ).pipe(
        Effect.catchTags({ BuildInProgress: buildInProgress, SqlError: Effect.die })
      )
      yield* signal.notify
      return build
    })

  /** Spec §3.4: queue the delete build, then soft-delete the task and its snapshot. */
  const remove = (actor: UserActor, task: TaskRow) =>
    Effect.gen(function*() {
      const deletedAt = yield* now
      yield* sql.withTransaction(Effect.gen(function*() {
        if (task.workspace_id !== null) {
          yield* builds.insert({
            workspaceId: task.workspace_id,
            transition: "delete",
            reason: "initiator",
            initiatorId: actor.id
          })
        }
        yield* tasks.softDelete(task.id, deletedAt)
      })).pipe(Effect.catchTags({ BuildInProgress: buildInProgress, SqlError: Effect.die }))
      yield* signal.notify
    })

  const pause = (actor: UserActor, task: TaskRow): Effect.Effect<WorkspaceBuild, Conflict | InternalServerError> =>
    task.latest_build_transition === "stop" && task.latest_build_job_status === "succeeded"
      ? Effect.fail(new Conflict({ message: "Task is already paused.", detail: "Resume the task to run it again." }))
      : queueBuild(actor, task, "stop", "task_manual_pause")

  const resume = (actor: UserActor, task: TaskRow): Effect.Effect<WorkspaceBuild, Conflict | InternalServerError> =>
    task.latest_build_transition === "start" && task.latest_build_job_status === "succeeded"
      ? Effect.fail(new Conflict({ message: "Task is not paused.", detail: "Only a paused task can be resumed." }))
      : queueBuild(actor, task, "start", "task_resume")

  /** Spec §3.5: only a paused task's prompt may change; the untrimmed input is stored. */
  const updateInput = (task: TaskRow, input: string) =>
    Effect.gen(function*() {
      if (input.trim() === "") return yield* new BadRequest({ message: "Task input is required." })
      const updated = yield* tasks.updatePromptIfPaused(task.id, input)
      if (!updated) {
        return yield* new Conflict({
          message: "Unable to update task input, task must be paused.",
          detail: "Please stop the task's workspace before updating the input."
        })
      }
    })

  return { create, remove, pause, resume, updateInput } as const
})

export class TaskCommands extends Context.Service<TaskCommands, Effect.Success<typeof make>>()("taskd/TaskCommands") {
  /** The commands alone: the repositories they use come from outside (stubs in test/unit/TaskCommands). */
  static readonly layerNoDeps: Layer.Layer<
    TaskCommands,
    never,
    SqlClient.SqlClient | JobSignal | TaskRepo | BuildRepo | TemplateRepo | UserRepo
  > = Layer.effect(TaskCommands, make)

  /** The commands over the repositories they use; the job runner (JobSignal) comes from the server. */
  static readonly layer: Layer.Layer<TaskCommands, never, SqlClient.SqlClient | JobSignal> = TaskCommands.layerNoDeps
    .pipe(Layer.provide([TaskRepo.layer, BuildRepo.layer, TemplateRepo.layer, UserRepo.layer]))
}

export const layer = TaskCommands.layer
