/**
 * Raw HTTP, for what the typed client cannot send: malformed bodies, odd headers, missing tokens, bodies
 * larger than the cap. Two entry points, one per situation:
 *
 * - `request`: an Effect against the test server in context (its `HttpClient`, from TestServer.layer);
 * - `send`: a Promise against any base URL (a child process, a second instance, fast-check properties).
 *
 * Both answer a `RawResponse`. `streamUpload`/`streamBody` stream a large body with node:http.
 *
 * The snapshot upload (`POST /api/v2/workspaceagents/me/tasks/{task}/log-snapshot`, spec §7.3) is written
 * here once: `snapshotPath`, `snapshotTemplate`, `messagesBody`/`snapshotBody`, `upload` and `uploadTo`.
 */
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as http from "node:http"
import { baseUrl } from "./TestServer.ts"

export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: any
}

export type Method = "GET" | "POST" | "PATCH" | "DELETE" | "PUT"

export interface RequestOptions {
  /** Sent as `Coder-Session-Token`. */
  readonly token?: string
  readonly body?: string | Uint8Array
  readonly headers?: Record<string, string>
}

/** The body as JSON, or undefined when it is empty or not JSON. */
const parseJson = (text: string): unknown => {
  try {
    return text === "" ? undefined : JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A request to the test server in context; HTTP errors are answers, transport failures are defects. */
export const request = (method: Method, path: string, options: RequestOptions = {}) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let req = HttpClientRequest.make(method)(path).pipe(HttpClientRequest.setHeaders(options.headers ?? {}))
    if (options.token !== undefined) req = HttpClientRequest.setHeader(req, "Coder-Session-Token", options.token)
    if (options.body !== undefined) {
      req = typeof options.body === "string"
        ? HttpClientRequest.bodyText(req, options.body, options.headers?.["content-type"] ?? "application/json")
        : HttpClientRequest.bodyUint8Array(req, options.body, "application/json")
    }
    const response = yield* client.execute(req)
    const text = yield* response.text
    const raw: RawResponse = { status: response.status, headers: response.headers, text, json: parseJson(text) }
    return raw
  }).pipe(Effect.orDie)

/**
 * A request with fetch to `base` (e.g. `http://127.0.0.1:1234`), bounded by `timeoutMs`. The body is sent
 * as given, with the headers given and no content type added; `token` goes in `Coder-Session-Token`.
 */
export const send = async (
  base: string,
  method: string,
  path: string,
  options: RequestOptions & { readonly timeoutMs?: number } = {}
): Promise<RawResponse> => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.token === undefined ? {} : { "coder-session-token": options.token }),
      ...options.headers
    },
    ...(options.body === undefined ? {} : { body: options.body }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000)
  })
  const text = await response.text()
  return { status: response.status, headers: Object.fromEntries(response.headers), text, json: parseJson(text) }
}

/** `send` with a JSON body (`content-type: application/json`). */
export const sendJson = (
  base: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown
): Promise<RawResponse> =>
  send(base, method, path, {
    ...(token === undefined ? {} : { token }),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
  })

export interface StreamedUpload {
  readonly token: string
  readonly totalBytes: number
  readonly declareLength: boolean
  readonly prefix?: string
}

/**
 * Streams `totalBytes` to `host:port` with node:http (chunked unless `declareLength`), and reports the
 * response and how many bytes the server let through before answering; status 0 when the connection was
 * reset before an answer could be read.
 */
export const streamUpload = (
  target: { readonly host: string; readonly port: string | number },
  path: string,
  options: StreamedUpload
) =>
  new Promise<{ status: number; body: string; sentBytes: number }>((resolve) => {
    let sentBytes = 0
    let answered = false
    const req = http.request({
      host: target.host,
      port: target.port,
      path,
      method: "POST",
      headers: {
        "coder-session-token": options.token,
        "content-type": "application/json",
        ...(options.declareLength ? { "content-length": String(options.totalBytes) } : {})
      }
    })
    req.on("response", (res) => {
      answered = true
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk) => body += chunk)
      res.on("end", () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, body, sentBytes })
      })
    })
    req.on("error", () => {
      if (!answered) resolve({ status: 0, body: "", sentBytes })
    })
    const chunk = Buffer.alloc(64 * 1024, "a")
    const prefix = Buffer.from(options.prefix ?? `{"messages":[{"content":"`)
    const write = () => {
      while (!answered && sentBytes < options.totalBytes) {
        const piece = sentBytes === 0
          ? prefix
          : chunk.subarray(0, Math.min(chunk.length, options.totalBytes - sentBytes))
        sentBytes += piece.length
        if (!req.write(piece)) {
          req.once("drain", write)
          return
        }
      }
      if (!answered) req.end()
    }
    write()
  })

/** `streamUpload` against the test server. */
export const streamBody = (path: string, options: StreamedUpload) =>
  Effect.flatMap(baseUrl, (target) => Effect.promise(() => streamUpload(target, path, options)))

/** The upload's path template, as the OpenAPI document names it. */
export const snapshotTemplate = "/api/v2/workspaceagents/me/tasks/{task}/log-snapshot"

/** The upload path of `taskId`; `query` defaults to the agentapi format (pass "" for none). */
export const snapshotPath = (taskId: string, query = "?format=agentapi") =>
  `/api/v2/workspaceagents/me/tasks/${taskId}/log-snapshot${query}`

export interface AgentMessage {
  readonly id?: number
  readonly content?: string
  readonly role?: string
  readonly time?: string
}

/** An agentapi `{"messages": [...]}` body, as a JSON string. */
export const messagesBody = (messages: ReadonlyArray<AgentMessage>) => JSON.stringify({ messages })

/** A body of one agent message with `content` (id 0, role agent, a fixed time). */
export const snapshotBody = (content: string) =>
  messagesBody([{ id: 0, content, role: "agent", time: "2025-09-25T10:42:48Z" }])

/** Uploads `body` (a JSON string, or bytes) for `taskId` as the agent of `token`, to the test server in context. */
export const upload = (
  token: string,
  taskId: string,
  body: string | Uint8Array,
  options: { readonly query?: string; readonly headers?: Record<string, string> } = {}
) =>
  request("POST", snapshotPath(taskId, options.query), {
    token,
    body,
    ...(options.headers === undefined ? {} : { headers: options.headers })
  })

/** The same upload with fetch, to any base URL (a second instance, a child process); JSON content type. */
export const uploadTo = (
  base: string,
  token: string,
  taskId: string,
  body: string | Uint8Array,
  options: { readonly query?: string; readonly timeoutMs?: number } = {}
): Promise<RawResponse> =>
  send(base, "POST", snapshotPath(taskId, options.query), {
    token,
    body,
    headers: { "content-type": "application/json" },
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs })
  })
