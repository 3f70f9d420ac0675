/**
 * Raw HTTP against the test server, for what the typed client cannot send: malformed bodies, odd
 * headers, missing tokens, bodies larger than the cap.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import { baseUrl } from "./TestServer.ts"

export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: any
}

export const request = (
  method: "GET" | "POST" | "PATCH" | "DELETE" | "PUT",
  path: string,
  options: { readonly token?: string; readonly body?: string | Uint8Array; readonly headers?: Record<string, string> } =
    {}
) =>
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
    let json: unknown = undefined
    try {
      json = text === "" ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, text, json } as RawResponse
  }).pipe(Effect.scoped, Effect.orDie)

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
