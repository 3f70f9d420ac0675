/**
 * Talking to a task's agent through its task app's agentapi: live logs and sending input, behind the
 * checks of Coder's `authAndDoWithTaskAppClient` (spec §3.8.1), in its order.
 */
import * as Effect from "effect/Effect"
import { AgentApiClient, type AgentApiError } from "../AgentApi/AgentApiClient.ts"
import { BadGateway, BadRequest, Conflict, InternalServerError } from "../Domain/CoderError.ts"
import type { TaskLogsResponse } from "../Domain/Task.ts"
import type { TaskRow } from "../Domain/Task.ts"
import { toLogEntries } from "../Snapshots/SnapshotLogs.ts"

/** The task app's URL once the task may be talked to. */
const taskAppUrl = (task: TaskRow) =>
  Effect.gen(function*() {
    switch (task.status) {
      case "pending":
      case "initializing":
        return yield* new Conflict({
          message: task.status === "pending" ? "Task is pending." : "Task is initializing.",
          detail: "The task is resuming. Wait for the task to become active before sending messages."
        })
      case "paused":
        return yield* new Conflict({ message: "Task is paused.", detail: "Resume the task to send messages." })
      case "error":
      case "unknown":
        return yield* new BadRequest({
          message: "Task must be active.",
          detail: `Task status is ${JSON.stringify(task.status)}, it must be "active" to interact with the task.`
        })
    }
    if (task.workspace_id === null) return yield* new BadRequest({ message: "Task does not have a workspace." })
    if (task.workspace_app_id === null) return yield* new BadRequest({ message: "Task does not have a workspace app." })
    if (task.app_url === null || task.app_url === "") {
      return yield* new InternalServerError({ message: "Task app URL is not configured." })
    }
    return task.app_url
  })

/** An agentapi failure as Coder reports it; `message` names the operation that failed. */
const agentApiFailure = (message: string) => (error: AgentApiError) => {
  switch (error._tag) {
    case "AgentApiInvalidUrl":
      return new InternalServerError({ message: "Internal error parsing task app URL.", detail: error.detail })
    case "AgentApiUnsupportedScheme":
      return new BadRequest({ message: "Only http scheme is supported for direct agent-dial." })
    case "AgentApiRequestError":
      return new BadGateway({ message, detail: error.detail })
  }
}

/** `GET /messages` as task logs. */
export const liveLogs = (task: TaskRow) =>
  Effect.gen(function*() {
    const url = yield* taskAppUrl(task)
    const agentApi = yield* AgentApiClient
    const response = yield* agentApi.messages(url).pipe(
      Effect.mapError(agentApiFailure("Failed to get messages from task app."))
    )
    const logs = yield* toLogEntries(response.messages).pipe(
      Effect.mapError((error) => new BadGateway({ message: "Invalid task app response.", detail: error.message }))
    )
    return { logs } satisfies TaskLogsResponse
  })

/** Sends `input` as a user message once agentapi says it is stable. */
export const sendInput = (task: TaskRow, input: string) =>
  Effect.gen(function*() {
    const url = yield* taskAppUrl(task)
    const agentApi = yield* AgentApiClient
    const status = yield* agentApi.status(url).pipe(
      Effect.mapError(agentApiFailure("Failed to get status from task app."))
    )
    if (status.status !== "stable") {
      return yield* new BadGateway({
        message: "Task app is not ready to accept input.",
        detail: `Status: ${status.status}`
      })
    }
    const sent = yield* agentApi.sendMessage(url, input).pipe(
      Effect.mapError(agentApiFailure("Task app rejected the message."))
    )
    if (!sent.ok) {
      return yield* new BadGateway({ message: "Task app rejected the message.", detail: "agentapi answered ok: false" })
    }
  })
