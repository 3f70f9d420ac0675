/**
 * The agent side of task log snapshots (spec §7.6), as Coder's `agentapi-shutdown.sh` does it: read the
 * conversation from the local agentapi, trim it (./Trim.ts) and upload it with the agent token to
 * `POST /api/v2/workspaceagents/me/tasks/{task}/log-snapshot?format=agentapi`.
 *
 * It runs while the workspace shuts down, so it never fails: every path ends in an `UploadOutcome`, and
 * what happened is logged.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { make as makeAgentApiClient } from "./AgentApiClient.ts"
import { encodePayload, maxPayloadBytes, trimForSnapshot } from "./Trim.ts"

export type UploadOutcome = Data.TaggedEnum<{
  /** The server stored the snapshot (204). */
  Uploaded: { readonly messages: number; readonly bytes: number }
  /** Nothing to do: no task id, or no messages. Not an error. */
  Skipped: { readonly reason: string }
  /** The server answered 404: this Coder (or taskd) has no snapshot endpoint. Not an error. */
  NotSupported: { readonly detail: string }
  /** Something went wrong; logged as an error, and the shutdown goes on. */
  Failed: { readonly reason: string }
}>
export const UploadOutcome = Data.taggedEnum<UploadOutcome>()

export const defaultAgentApiPort = 3284
export const defaultFetchTimeout = Duration.seconds(5)
export const defaultPostTimeout = Duration.seconds(10)

export interface UploadOptions {
  /** `CODER_AGENT_URL`: the Coder (or taskd) deployment. */
  readonly agentUrl: string
  /** `CODER_AGENT_TOKEN`, sent as `Coder-Session-Token`. */
  readonly agentToken: Redacted.Redacted<string> | string
  /** The task's id; empty means "not a task workspace", and nothing is done. */
  readonly taskId: string
  /** agentapi's port on localhost (default 3284); ignored when `agentApiUrl` is given. */
  readonly agentApiPort?: number | undefined
  /** agentapi's base URL, default `http://localhost:<agentApiPort>`. */
  readonly agentApiUrl?: string | undefined
  /** Reading `/messages`, default 5 s. */
  readonly fetchTimeout?: Duration.Input | undefined
  /** The upload, default 10 s. */
  readonly postTimeout?: Duration.Input | undefined
}

/** The upload URL for a task on a deployment. */
export const snapshotUrl = (agentUrl: string, taskId: string): string =>
  `${agentUrl.replace(/\/+$/, "")}/api/v2/workspaceagents/me/tasks/${
    encodeURIComponent(taskId)
  }/log-snapshot?format=agentapi`

const oneLine = (text: string, max = 300) => {
  const line = text.replace(/\s*[\r\n]+\s*/g, " ").trim()
  return line.length > max ? `${line.slice(0, max)}...` : line
}

/** The response's Coder error body as one line, when it has one. */
const describeBody = (text: string): string => {
  try {
    const body = JSON.parse(text) as { message?: unknown; detail?: unknown }
    if (typeof body.message === "string") {
      return oneLine(
        typeof body.detail === "string" && body.detail !== "" ? `${body.message} ${body.detail}` : body.message
      )
    }
  } catch {
    // not JSON: show the text itself
  }
  return oneLine(text)
}

const describeFailure = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const { cause, message } = error as { cause?: unknown; message?: unknown }
    const inner = cause instanceof Error
      ? `${cause.message}${cause.cause instanceof Error ? `: ${cause.cause.message}` : ""}`
      : ""
    return oneLine([typeof message === "string" ? message : String(error), inner].filter((s) => s !== "").join(": "))
  }
  return oneLine(String(error))
}

const post = (options: UploadOptions, body: string) =>
  Effect.gen(function*() {
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const url = snapshotUrl(options.agentUrl, options.taskId)
    const token = Redacted.isRedacted(options.agentToken) ? Redacted.value(options.agentToken) : options.agentToken
    const timeout = Duration.fromInputUnsafe(options.postTimeout ?? defaultPostTimeout)
    const request = HttpClientRequest.post(url).pipe(
      HttpClientRequest.setHeader("Coder-Session-Token", token),
      HttpClientRequest.bodyText(body, "application/json")
    )
    return yield* client.execute(request).pipe(
      Effect.flatMap((response) => Effect.map(response.text, (text) => ({ status: response.status, text }))),
      Effect.scoped,
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(`timed out after ${Duration.format(timeout)}`)
      }),
      Effect.mapError((error) => `POST ${url}: ${typeof error === "string" ? error : describeFailure(error)}`),
      Effect.catchDefect((defect) => Effect.fail(`POST ${url}: ${describeFailure(defect)}`))
    )
  })

/**
 * Captures and uploads the task's log snapshot. Needs an `HttpClient` (FetchHttpClient.layer on Node and
 * Deno); never fails.
 */
export const uploadSnapshot = (options: UploadOptions): Effect.Effect<UploadOutcome, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    if (options.taskId === "") {
      yield* Effect.logInfo("No task id: skipping the log snapshot.")
      return UploadOutcome.Skipped({ reason: "no task id" })
    }
    const agentApi = yield* makeAgentApiClient({ requestTimeout: options.fetchTimeout ?? defaultFetchTimeout })
    const agentApiUrl = options.agentApiUrl ?? `http://localhost:${options.agentApiPort ?? defaultAgentApiPort}`

    const fetched = yield* Effect.result(agentApi.messages(agentApiUrl))
    if (Result.isFailure(fetched)) {
      const error = fetched.failure
      yield* Effect.logError(`Failed to read the conversation for the log snapshot: ${error.detail}`)
      return UploadOutcome.Failed({ reason: error.detail })
    }
    if (fetched.success.messages.length === 0) {
      yield* Effect.logInfo("No messages for log snapshot.")
      return UploadOutcome.Skipped({ reason: "no messages" })
    }

    const payload = trimForSnapshot(fetched.success)
    if (payload === undefined) {
      const reason = `the last message does not fit in ${maxPayloadBytes} bytes even truncated`
      yield* Effect.logError(`Log snapshot not uploaded: ${reason}.`)
      return UploadOutcome.Failed({ reason })
    }
    const body = encodePayload(payload)
    const bytes = new TextEncoder().encode(body).byteLength

    const response = yield* Effect.result(post(options, body))
    if (Result.isFailure(response)) {
      yield* Effect.logError(`Failed to upload the log snapshot: ${response.failure}`)
      return UploadOutcome.Failed({ reason: response.failure })
    }
    const { status, text } = response.success
    if (status === 204) {
      yield* Effect.logInfo(`Log snapshot uploaded: ${payload.messages.length} messages, ${bytes} bytes.`)
      return UploadOutcome.Uploaded({ messages: payload.messages.length, bytes })
    }
    if (status === 404) {
      const detail = "this server does not support snapshots"
      yield* Effect.logInfo(`Log snapshot not uploaded: ${detail} (404).`)
      return UploadOutcome.NotSupported({ detail })
    }
    const reason = `status ${status}${text === "" ? "" : `: ${describeBody(text)}`}`
    yield* Effect.logError(`Failed to upload the log snapshot: ${reason}`)
    return UploadOutcome.Failed({ reason })
  }).pipe(
    // The last guard: a shutdown hook must not crash, whatever a host's HttpClient does.
    Effect.catchCause((cause) =>
      Effect.as(
        Effect.logError("Log snapshot failed unexpectedly", cause),
        UploadOutcome.Failed({ reason: "unexpected failure; see the log" })
      )
    ),
    Effect.withSpan("uploadSnapshot")
  )
