/**
 * The server's log lines (`taskd serve --log-format`): `json` writes one JSON object a line, for a log
 * pipeline; `pretty` writes Effect's pretty lines, for a person at a terminal. The default is pretty when
 * stdout is a terminal and JSON otherwise.
 *
 * A JSON line holds `time`, `level` and `message`, then the ids that apply: `request_id` in request
 * handling, `task_id` and `workspace_id` where a task or workspace is known (the request's task or agent,
 * the job runner's job, the provisioner's workspace), the log's other annotations, `cause` for a failure,
 * and `trace_id`/`span_id` when traces are exported. Log lines carry no tokens, query strings or message
 * contents: what is logged is chosen where it is logged, and the ids here are ids.
 */
import * as TerminalCapabilities from "effect/cli/TerminalCapabilities"
import * as Context from "effect/Context"
import * as Formatter from "effect/Formatter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { randomUUID } from "node:crypto"
import { CurrentAgent, CurrentUploadTask } from "../Domain/Actor.ts"
import { CurrentTask } from "../Domain/Task.ts"

export const LogFormats = ["json", "pretty"] as const
export type LogFormat = typeof LogFormats[number]

/** Pretty for a person at a terminal, JSON for whatever reads a pipe or a file. */
export const defaultFormat = (): LogFormat => process.stdout.isTTY === true ? "pretty" : "json"

// -----------------------------------------------------------------------------------------------------------
// The ids of a log line
// -----------------------------------------------------------------------------------------------------------

/** Request ids, given to a request by its first log line (keyed by the request the server received). */
const requestIds = new WeakMap<object, string>()

/** What a proxy may send as `X-Request-Id` and taskd then logs as is. */
const requestIdPattern = /^[\w.:-]{1,128}$/

/**
 * The id of the request being handled: the `X-Request-Id` a proxy sent, else a new one. Looked up when a
 * line is written, from the request in the fiber's context, so that requests that log nothing pay nothing.
 */
const requestIdOf = (request: HttpServerRequest.HttpServerRequest): string => {
  const key = typeof request.source === "object" && request.source !== null ? request.source : request
  let id = requestIds.get(key)
  if (id === undefined) {
    const sent = request.headers["x-request-id"]
    id = sent !== undefined && requestIdPattern.test(sent) ? sent : randomUUID()
    requestIds.set(key, id)
  }
  return id
}

/**
 * The ids the fiber's context knows: its request, and the task or workspace the request is about (the
 * `{task}` of the path, the agent that called, the task of an upload). Annotations (the job runner's, the
 * provisioner's) are added after these and win.
 */
const contextIds = (context: Context.Context<never>): Record<string, string> => {
  const ids: Record<string, string> = {}
  const request = Context.getOrUndefined(context, HttpServerRequest.HttpServerRequest)
  if (request !== undefined) ids.request_id = requestIdOf(request)
  const task = Context.getOrUndefined(context, CurrentTask)
  if (task !== undefined) {
    ids.task_id = task.id
    if (task.workspace_id !== null) ids.workspace_id = task.workspace_id
  }
  const upload = Context.getOrUndefined(context, CurrentUploadTask)
  if (upload !== undefined) ids.task_id = upload.taskId
  const agent = Context.getOrUndefined(context, CurrentAgent)
  if (agent !== undefined) ids.workspace_id = agent.workspaceId
  return ids
}

// -----------------------------------------------------------------------------------------------------------
// The loggers
// -----------------------------------------------------------------------------------------------------------

/** A log line as one JSON object (Effect's structured form, flattened). */
export const formatJson: Logger.Logger<unknown, string> = Logger.make((options) => {
  const entry = Logger.formatStructured.log(options)
  const line: Record<string, unknown> = {
    time: entry.timestamp,
    level: entry.level,
    message: entry.message,
    ...contextIds(options.fiber.context),
    ...entry.annotations
  }
  if (entry.cause !== undefined) line.cause = entry.cause
  const span = options.fiber.cache.span
  if (options.fiber.cache.tracerEnabled && span !== undefined && span.sampled) {
    line.trace_id = span.traceId
    line.span_id = span.spanId
  }
  return Formatter.formatJson(line)
})

/** JSON lines on stdout. */
export const json: Logger.Logger<unknown, void> = Logger.withConsoleLog(formatJson)

/**
 * Effect's pretty lines on stdout, in colour when effect/cli would colour its help (TerminalCapabilities):
 * stdout a terminal, NO_COLOR unset, TERM not dumb, or FORCE_COLOR set. Effect's pretty logger alone would
 * colour whenever stdout is a TTY, NO_COLOR or not.
 */
export const pretty = (): Logger.Logger<unknown, void> =>
  Logger.consolePretty({ colors: TerminalCapabilities.TerminalCapabilities.defaultValue().canColor })

/** The logger of `format` in place of Effect's default loggers. */
export const layer = (format: LogFormat): Layer.Layer<never> => Logger.layer([format === "json" ? json : pretty()])
