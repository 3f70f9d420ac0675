/**
 * The snapshot upload's checks before a byte of its body is read (spec §7.3), in Coder's order: the agent
 * token (401), the task id's format (400), the `format` query parameter (400), then the task, which must be
 * live and in the agent's workspace (the standard 404).
 *
 * The agent is authenticated by TokenAuth only, so a host's TokenAuth decides uploads too. On the hot path
 * the agent and the task come from `TokenAuth.authenticateAgentForTask` (taskd's own answers both in one
 * statement, sql/0005 `authorized_agent_task`); a TokenAuth without it gets `authenticateAgent` and then a
 * task lookup. A request refused with a 400 is authenticated first (`authenticateAgent`), so that a bad
 * token is still a 401.
 *
 * The framework has not decoded the path and query here yet: they are read raw.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { SnapshotUploadGuard } from "../Api.ts"
import { TokenAuth } from "../Auth/TokenAuth.ts"
import { CurrentAgent, CurrentUploadTask } from "../Domain/Actor.ts"
import { BadRequest, resourceNotFound } from "../Domain/CoderError.ts"
import { parseQuery } from "../Domain/QueryParams.ts"
import { AgentApiFormat } from "../Domain/Snapshot.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { SnapshotRepo } from "./SnapshotRepo.ts"

/** The 400 the request deserves before any lookup, if any (checks 1 to 3 of spec §7.3). */
const requestProblem = (taskParam: string, request: HttpServerRequest.HttpServerRequest) => {
  const taskId = parseUuid(taskParam)
  if (Result.isFailure(taskId)) {
    return Result.fail(new BadRequest({ message: "Invalid task ID format.", detail: taskId.failure }))
  }
  const query = parseQuery(request, { known: ["format"], required: ["format"] })
  if (query.validations.length > 0) {
    return Result.fail(new BadRequest({ message: "Invalid query parameters.", validations: query.validations }))
  }
  const format = query.values.format!
  if (format !== AgentApiFormat) {
    return Result.fail(
      new BadRequest({
        message: "Invalid format parameter.",
        detail: `Only "agentapi" format is currently supported, got ${JSON.stringify(format)}.`
      })
    )
  }
  return Result.succeed(taskId.success)
}

export const SnapshotUploadGuardLive = Layer.effect(
  SnapshotUploadGuard,
  Effect.gen(function*() {
    const snapshots = yield* SnapshotRepo
    const tokenAuth = yield* TokenAuth
    /** Checks 0 and 4 to 6: the agent (401), then the task, live and in the agent's workspace (404). */
    const agentForTask = tokenAuth.authenticateAgentForTask ??
      ((request: HttpServerRequest.HttpServerRequest, taskId: string) =>
        Effect.gen(function*() {
          const agent = yield* tokenAuth.authenticateAgent(request)
          const workspaceId = yield* snapshots.uploadTaskWorkspace(taskId)
          if (workspaceId === undefined || workspaceId !== agent.workspaceId) return yield* resourceNotFound()
          return agent
        }))
    return {
      agentToken: (httpEffect) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const { task } = yield* HttpRouter.params
          const checked = requestProblem(task ?? "", request)
          if (Result.isFailure(checked)) {
            // Check 0 comes first: a request refused with a 400 still answers 401 without an agent.
            yield* tokenAuth.authenticateAgent(request)
            return yield* checked.failure
          }
          const agent = yield* agentForTask(request, checked.success)
          return yield* httpEffect.pipe(
            Effect.provideService(CurrentAgent, agent),
            Effect.provideService(CurrentUploadTask, { taskId: checked.success })
          )
        })
    }
  })
).pipe(Layer.provide(SnapshotRepo.layer))
