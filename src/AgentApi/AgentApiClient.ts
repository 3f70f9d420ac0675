/**
 * A client for a task app's agentapi (spec §7.2): `GET /messages`, `GET /status` and `POST /message`, over
 * a base URL such as `http://127.0.0.1:3284`, and the event stream `GET /events` (issue 12). Every answer is
 * decoded with the codecs of `Domain/AgentApi.ts`; everything that can go wrong (a URL that is not http, a
 * refused connection, a timeout, a status other than 200, a body that does not decode) is one of the typed
 * errors below, with a one-line `detail`, and never a defect.
 *
 * The client runs on Effect's `HttpClient` (`effect/http`), so a host can route it elsewhere (a tunnel to the
 * workspace agent, say) by providing its own `HttpClient` to `layerHttpClient`, or replace the whole service.
 * The default transport is undici (`@effect/platform-node`'s `NodeHttpClient`), on Node and on Deno.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Sse from "effect/encoding/Sse"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  type AgentEvent,
  agentEventData,
  MessagesResponse,
  PostMessageRequest,
  PostMessageResponse,
  StatusResponse
} from "../Domain/AgentApi.ts"
import { parseJsonExact } from "../Domain/Json.ts"
import { formatIssues } from "../Domain/SchemaIssues.ts"

/** The client call that failed; the server picks its 502 message from it. */
export type AgentApiOperation = "messages" | "status" | "sendMessage" | "events"

/** The base URL does not parse (Coder: 500 "Internal error parsing task app URL."). */
export class AgentApiInvalidUrl extends Data.TaggedError("AgentApiInvalidUrl")<{
  readonly operation: AgentApiOperation
  readonly url: string
  readonly detail: string
}> {
  override get message() {
    return this.detail
  }
}

/** The base URL is not `http:` (Coder: 400 "Only http scheme is supported for direct agent-dial."). */
export class AgentApiUnsupportedScheme extends Data.TaggedError("AgentApiUnsupportedScheme")<{
  readonly operation: AgentApiOperation
  readonly url: string
  /** The scheme without its colon, e.g. "https". */
  readonly scheme: string
  readonly detail: string
}> {
  override get message() {
    return this.detail
  }
}

/**
 * The request was made and did not give a usable answer (Coder: 502, with a message per operation).
 * - `Transport`: no response (connection refused or reset, DNS, TLS, a connect timeout of the transport);
 * - `Timeout`: no complete response within the request timeout;
 * - `Status`: a status other than 200 (`status` holds it);
 * - `Decode`: the body is not JSON, or not the expected shape (for `events`: not `text/event-stream`).
 */
export class AgentApiRequestError extends Data.TaggedError("AgentApiRequestError")<{
  readonly operation: AgentApiOperation
  readonly reason: "Transport" | "Timeout" | "Status" | "Decode"
  readonly method: "GET" | "POST"
  readonly url: string
  readonly status?: number | undefined
  /** One line, starting with the method and URL, e.g. `GET http://127.0.0.1:3284/messages: status 500`. */
  readonly detail: string
}> {
  override get message() {
    return this.detail
  }
}

export type AgentApiError = AgentApiInvalidUrl | AgentApiUnsupportedScheme | AgentApiRequestError

export class AgentApiClient extends Context.Service<AgentApiClient, {
  /** `GET /messages`: the conversation so far. */
  readonly messages: (url: string) => Effect.Effect<MessagesResponse, AgentApiError>
  /** `GET /status`: "stable" when the agent waits for input, "running" while it works. */
  readonly status: (url: string) => Effect.Effect<StatusResponse, AgentApiError>
  /** `POST /message` with `{"content": content, "type": "user"}`; returns agentapi's `{"ok": bool}` as sent. */
  readonly sendMessage: (url: string, content: string) => Effect.Effect<PostMessageResponse, AgentApiError>
  /**
   * `GET /events`: the agent's events in order, as agentapi sends them: on connect the replay (every
   * message, then the status, then recent errors), then each change as it happens. It fails only when it
   * cannot connect: an `AgentApiRequestError` (`Transport`; `Timeout` when the response headers do not come
   * within the request timeout; `Status`; `Decode` when the answer is not an event stream). Once connected
   * it ENDS when the connection does, closed or broken alike (agentapi has no event ids, so the caller
   * reconnects and deduplicates the replay either way), and the request timeout no longer applies. An
   * event taskd cannot use (bad JSON, wrong shape, unknown name, data over `maxEventSize`) is emitted as
   * `Malformed` and the stream goes on.
   */
  readonly events: (url: string) => Stream.Stream<AgentEvent, AgentApiError>
}>()("taskd/AgentApiClient") {}

export interface Timeouts {
  /** Establishing the TCP connection (default transport only). Default 5 s. */
  readonly connectTimeout?: Duration.Input | undefined
  /** The whole exchange, from sending the request to the last byte of the body. Default 30 s. */
  readonly requestTimeout?: Duration.Input | undefined
}

export interface Options extends Timeouts {
  /**
   * The most data one event of `events` may carry, in UTF-16 code units (the length of the JS string).
   * A longer event is skipped as `Malformed`, and no more than about this much of it is ever buffered.
   * Default `defaultMaxEventSize`.
   */
  readonly maxEventSize?: number | undefined
}

export const defaultConnectTimeout = Duration.seconds(5)
export const defaultRequestTimeout = Duration.seconds(30)
/** 16 Mi code units: far above any real message (taskd stores at most 1 MiB of one), far below harm. */
export const defaultMaxEventSize = 16 * 1024 * 1024

/** One line of text, short enough for an error detail. */
const oneLine = (text: string, max = 300) => {
  const line = text.replace(/\s*[\r\n]+\s*/g, " ").trim()
  return line.length > max ? `${line.slice(0, max)}...` : line
}

/** A transport failure as people read it: the innermost messages and the error code. */
const describeCause = (cause: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = cause
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error || (typeof current === "object" && "message" in current)) {
      const error = current as { message?: unknown; code?: unknown; cause?: unknown }
      const text = String(error.message ?? "")
      const code = typeof error.code === "string" && !text.includes(error.code) ? ` (${error.code})` : ""
      if (text !== "" && !parts.some((part) => part.includes(text))) parts.push(`${text}${code}`)
      current = error.cause
    } else {
      parts.push(String(current))
      break
    }
  }
  return oneLine(parts.length === 0 ? "request failed" : parts.join(": "))
}

const isConnectTimeout = (cause: unknown): boolean => {
  let current: unknown = cause
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    if ((current as { code?: unknown }).code === "UND_ERR_CONNECT_TIMEOUT") return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** Checks the base URL and appends `path` to it (keeping any path prefix, dropping query and fragment). */
export const endpointUrl = (
  operation: AgentApiOperation,
  baseUrl: string,
  path: string
): Effect.Effect<string, AgentApiInvalidUrl | AgentApiUnsupportedScheme> => {
  let parsed: URL
  try {
    parsed = new URL(baseUrl)
  } catch (error) {
    return Effect.fail(
      new AgentApiInvalidUrl({
        operation,
        url: baseUrl,
        detail: `invalid agentapi URL ${JSON.stringify(baseUrl)}: ${describeCause(error)}`
      })
    )
  }
  if (parsed.protocol !== "http:") {
    const scheme = parsed.protocol.replace(/:$/, "")
    return Effect.fail(
      new AgentApiUnsupportedScheme({
        operation,
        url: baseUrl,
        scheme,
        detail: `only the http scheme is supported for direct agent-dial, got ${JSON.stringify(scheme)}`
      })
    )
  }
  return Effect.succeed(`${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}${path}`)
}

type Decoded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly detail: string }

const decodeJson = <A>(schema: Schema.Decoder<A>) => {
  const decode = Schema.decodeUnknownResult(schema, { errors: "all", reportInput: true })
  return (text: string): Decoded<A> => {
    let json: unknown
    try {
      // Exact: message ids are int64s, and JSON.parse would round those beyond 2^53.
      json = parseJsonExact(text)
    } catch (error) {
      return { ok: false, detail: `not JSON: ${describeCause(error)}` }
    }
    const decoded = decode(json)
    return Result.isSuccess(decoded)
      ? { ok: true, value: decoded.success }
      : { ok: false, detail: formatIssues(decoded.failure) }
  }
}

const decodeMessages = decodeJson(MessagesResponse)
const decodeStatus = decodeJson(StatusResponse)
const decodePostMessage = decodeJson(PostMessageResponse)
const encodePostMessage = Schema.encodeSync(PostMessageRequest)

const CR = 13
const LF = 10

/**
 * Where the rest of an oversize event ends. The SSE parser drops the event's state when it grows past its
 * limit, so the event's remaining lines would otherwise be read as a new event: they are skipped here, up
 * to the empty line that ends the event, without keeping them.
 */
interface Skipping {
  /** Nothing of the current line has been seen yet. */
  atLineStart: boolean
  /** The last character was a CR, so an LF right after it belongs to the same line end. */
  afterCr: boolean
}

/** The skip state after `chunk`, whose end the parser stopped at. */
const startSkipping = (chunk: string): Skipping => {
  const last = chunk.charCodeAt(chunk.length - 1)
  return { atLineStart: last === CR || last === LF, afterCr: last === CR }
}

/** The index just past the empty line that ends the skipped event, or -1 when `chunk` does not reach it. */
const skipToEventEnd = (skipping: Skipping, chunk: string): number => {
  for (let i = 0; i < chunk.length; i++) {
    const code = chunk.charCodeAt(i)
    if (skipping.afterCr) {
      skipping.afterCr = false
      if (code === LF) continue
    }
    if (code === CR || code === LF) {
      if (skipping.atLineStart) return i + 1
      skipping.atLineStart = true
      skipping.afterCr = code === CR
    } else {
      skipping.atLineStart = false
    }
  }
  return -1
}

const eventDecoders: Record<string, (data: string) => Decoded<AgentEvent>> = {
  message_update: decodeJson(agentEventData.message_update),
  status_change: decodeJson(agentEventData.status_change),
  agent_error: decodeJson(agentEventData.agent_error)
}

const malformed = (event: string, detail: string): AgentEvent => ({ _tag: "Malformed", event, detail: oneLine(detail) })

/** One parsed server-sent event as taskd reads it. */
const decodeEvent = (event: Sse.Event, maxEventSize: number): AgentEvent => {
  if (event.data.length > maxEventSize) {
    return malformed(event.event, `data of ${event.data.length} characters is over the limit of ${maxEventSize}`)
  }
  const decode = Object.hasOwn(eventDecoders, event.event) ? eventDecoders[event.event] : undefined
  if (decode === undefined) return malformed(event.event, `unknown event ${JSON.stringify(event.event)}`)
  const decoded = decode(event.data)
  return decoded.ok ? decoded.value : malformed(event.event, decoded.detail)
}

/**
 * Text chunks of an event stream as agentapi events, with effect's SSE parser. Each run has its own parser.
 * The parser's own limit is a little above `maxEventSize` because it also counts the pending line's field
 * name and line ends; the exact limit is applied to each event's data in `decodeEvent`.
 */
const parseEvents =
  (maxEventSize: number) => <E, R>(text: Stream.Stream<string, E, R>): Stream.Stream<AgentEvent, E, R> =>
    Stream.suspend(() => {
      let parsed: Array<AgentEvent> = []
      const parser = Sse.makeParser((event) => {
        // agentapi sends no `retry:`; a Retry is ignored.
        if (event._tag === "Event") parsed.push(decodeEvent(event, maxEventSize))
      }, { maxEventSize: maxEventSize + 64 })
      let skipping: Skipping | undefined
      const feed = (chunk: string): ReadonlyArray<AgentEvent> => {
        if (skipping !== undefined) {
          const end = skipToEventEnd(skipping, chunk)
          if (end === -1) return []
          skipping = undefined
          chunk = chunk.slice(end)
        }
        // Events that end in this chunk before an oversize one are parsed first, so the order holds.
        if (parser.feed(chunk) !== undefined) {
          parsed.push(malformed("", `an event over the limit of ${maxEventSize} characters was skipped`))
          skipping = startSkipping(chunk)
        }
        const out = parsed
        parsed = []
        return out
      }
      return text.pipe(Stream.map(feed), Stream.flattenIterable)
    })

/** The service on the `HttpClient` in context; the request timeout is enforced here, whatever the transport. */
export const make = (options: Pick<Options, "requestTimeout" | "maxEventSize"> = {}) =>
  Effect.gen(function*() {
    // Each exchange is scoped: an unread body (a status other than 200) is aborted, not left to the GC.
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const requestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? defaultRequestTimeout)
    const maxEventSize = options.maxEventSize ?? defaultMaxEventSize

    const failure = (operation: AgentApiOperation, method: "GET" | "POST", url: string) =>
    (
      reason: AgentApiRequestError["reason"],
      detail: string,
      status?: number
    ) => new AgentApiRequestError({ operation, reason, method, url, status, detail: `${method} ${url}: ${detail}` })

    /** `effect`'s transport failures as typed errors, all within the request timeout. */
    const bounded = <A, R>(
      fail: ReturnType<typeof failure>,
      effect: Effect.Effect<A, HttpClientError.HttpClientError | AgentApiRequestError, R>
    ): Effect.Effect<A, AgentApiRequestError, R> =>
      effect.pipe(
        Effect.catchTag("HttpClientError", ({ reason }) => {
          const cause = reason.cause ?? reason
          return Effect.fail(
            isConnectTimeout(cause)
              ? fail("Transport", `connect timed out: ${describeCause(cause)}`)
              : fail("Transport", describeCause(cause))
          )
        }),
        // A host's HttpClient (a tunnel) may die; the caller still gets a 502, not a crash.
        Effect.catchDefect((defect) => Effect.fail(fail("Transport", describeCause(defect)))),
        Effect.timeoutOrElse({
          duration: requestTimeout,
          orElse: () => Effect.fail(fail("Timeout", `timed out after ${Duration.format(requestTimeout)}`))
        })
      )

    const call = <A>(
      operation: AgentApiOperation,
      method: "GET" | "POST",
      baseUrl: string,
      path: string,
      decode: (text: string) => Decoded<A>,
      body?: string
    ): Effect.Effect<A, AgentApiError> =>
      Effect.flatMap(endpointUrl(operation, baseUrl, path), (url) => {
        const fail = failure(operation, method, url)
        let request = HttpClientRequest.make(method)(url).pipe(HttpClientRequest.acceptJson)
        if (body !== undefined) request = HttpClientRequest.bodyText(request, body, "application/json")

        const exchange = client.execute(request).pipe(
          Effect.flatMap((response): Effect.Effect<string, HttpClientError.HttpClientError | AgentApiRequestError> =>
            response.status === 200
              ? response.text
              : Effect.fail(fail("Status", `status ${response.status}`, response.status))
          ),
          Effect.scoped
        )

        return Effect.flatMap(bounded(fail, exchange), (text) => {
          const decoded = decode(text)
          return decoded.ok
            ? Effect.succeed(decoded.value)
            : Effect.fail(fail("Decode", `invalid response: ${oneLine(decoded.detail)}`, 200))
        })
      }).pipe(Effect.withSpan(`AgentApiClient.${operation}`, { attributes: { "agentapi.url": baseUrl } }))

    /**
     * Connects to `/events`: a 200 event stream, its body left open in the caller's scope (the stream's, so
     * that ending or interrupting the stream closes the connection). Only this part is timed.
     */
    const connectEvents = (baseUrl: string) =>
      Effect.flatMap(endpointUrl("events", baseUrl, "/events"), (url) => {
        const fail = failure("events", "GET", url)
        const request = HttpClientRequest.get(url).pipe(HttpClientRequest.accept("text/event-stream"))
        return bounded(
          fail,
          Effect.flatMap(
            client.execute(request),
            (response): Effect.Effect<HttpClientResponse.HttpClientResponse, AgentApiRequestError> => {
              if (response.status !== 200) {
                return Effect.fail(fail("Status", `status ${response.status}`, response.status))
              }
              const contentType = (response.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
              return contentType === "text/event-stream"
                ? Effect.succeed(response)
                : Effect.fail(
                  fail("Decode", `not an event stream: content-type ${JSON.stringify(contentType)}`, 200)
                )
            }
          )
        )
      }).pipe(Effect.withSpan("AgentApiClient.events", { attributes: { "agentapi.url": baseUrl } }))

    const events = (baseUrl: string): Stream.Stream<AgentEvent, AgentApiError> =>
      Stream.unwrap(Effect.map(connectEvents(baseUrl), (response) =>
        response.stream.pipe(
          Stream.decodeText,
          parseEvents(maxEventSize),
          // A connection that breaks mid-stream (reset, the agent killed) ends the stream as a close does.
          Stream.catchTag("HttpClientError", () => Stream.empty)
        )))

    return AgentApiClient.of({
      messages: (url) => call("messages", "GET", url, "/messages", decodeMessages),
      status: (url) => call("status", "GET", url, "/status", decodeStatus),
      sendMessage: (url, content) =>
        call(
          "sendMessage",
          "POST",
          url,
          "/message",
          decodePostMessage,
          JSON.stringify(encodePostMessage({ content, type: "user" }))
        ),
      events
    })
  })

/** The service on the host's `HttpClient`, e.g. one that tunnels to the workspace agent. */
export const layerHttpClient = (
  options: Pick<Options, "requestTimeout" | "maxEventSize"> = {}
): Layer.Layer<AgentApiClient, never, HttpClient.HttpClient> => Layer.effect(AgentApiClient, make(options))

/**
 * The default transport: undici (Node and Deno), with a connect timeout. Requests never share the
 * process-wide dispatcher, and its connections are closed with the layer.
 */
export const transport = (
  options: Pick<Timeouts, "connectTimeout"> = {}
): Layer.Layer<HttpClient.HttpClient> =>
  NodeHttpClient.layerUndiciOptions({
    connect: { timeout: Duration.toMillis(options.connectTimeout ?? defaultConnectTimeout) }
  })

/** The service on the default transport, with the given timeouts (and event size limit). */
export const layerWith = (options: Options = {}): Layer.Layer<AgentApiClient> =>
  layerHttpClient(options).pipe(Layer.provide(transport(options)))

/**
 * The timeouts from the environment: `TASKD_AGENTAPI_TIMEOUT` (whole request, default 30 s) and
 * `TASKD_AGENTAPI_CONNECT_TIMEOUT` (default 5 s), as Effect durations ("30 seconds", "500 millis").
 */
export const TimeoutsConfig: Config.Config<
  { readonly connectTimeout: Duration.Duration; readonly requestTimeout: Duration.Duration }
> = Config.all({
  connectTimeout: Config.Duration("TASKD_AGENTAPI_CONNECT_TIMEOUT").pipe(Config.withDefault(defaultConnectTimeout)),
  requestTimeout: Config.Duration("TASKD_AGENTAPI_TIMEOUT").pipe(Config.withDefault(defaultRequestTimeout))
})

/** The default: the default transport, with the timeouts of `TimeoutsConfig`. */
export const layer: Layer.Layer<AgentApiClient, Config.ConfigError> = Layer.unwrap(
  Effect.map(TimeoutsConfig, layerWith)
)
