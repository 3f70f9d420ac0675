/**
 * The typed taskd client, derived from the HttpApi declaration. Used by the CLI, the tests and scripts.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Api } from "./Api.ts"
import type { TaskStreamEvent } from "./Domain/Conversation.ts"
import { forPlainJsonParse } from "./Domain/Json.ts"

export interface ClientOptions {
  readonly baseUrl: string
  /** A user API key or an agent token, sent as `Coder-Session-Token`. */
  readonly token?: Redacted.Redacted<string> | string | undefined
}

/** The client's type: one method per endpoint, grouped like the API. */
export type Client = HttpApiClient.ForApi<typeof Api>

/**
 * The client's decoder reads JSON answers with a plain `JSON.parse`, which rounds integers beyond 2^53:
 * message ids (int64) in `/logs`. A JSON answer holding such an integer is handed to it with the integer
 * written as `Int64`'s token (`forPlainJsonParse`), so `logs` gives the id with every digit (a bigint).
 * Other answers are passed on as they came.
 */
const exactJsonAnswers = HttpClient.transformResponse(Effect.flatMap(
  (response: HttpClientResponse.HttpClientResponse) => {
    if (!(response.headers["content-type"] ?? "").startsWith("application/json")) return Effect.succeed(response)
    return Effect.map(response.text, (body) => {
      const text = forPlainJsonParse(body)
      const bytes = new TextEncoder().encode(text)
      return Object.create(response, {
        text: { value: Effect.succeed(text) },
        json: { value: Effect.sync(() => JSON.parse(text)) },
        arrayBuffer: {
          value: Effect.succeed(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
        }
      }) as HttpClientResponse.HttpClientResponse
    })
  }
))

/** A client for the whole API; needs an `HttpClient` (FetchHttpClient.layer or NodeHttpClient.layer). */
export const makeClient = (options: ClientOptions): Effect.Effect<Client, never, HttpClient.HttpClient> => {
  const token = options.token
  return HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient: token === undefined ? exactJsonAnswers : (client) =>
      exactJsonAnswers(HttpClient.mapRequest(
        client,
        HttpClientRequest.setHeader("Coder-Session-Token", Redacted.isRedacted(token) ? Redacted.value(token) : token)
      ))
  })
}

/** An event of a followed task: every kind but `overflow` (following handles it). */
export type FollowedEvent = Exclude<TaskStreamEvent, { readonly event: "overflow" }>

type TaskEventsCall = Client["conversations"]["taskEvents"]
/** Why following a task stopped: the first connection's refusal (404, 401, 429...) or a bad answer. */
export type FollowError =
  | Effect.Error<ReturnType<TaskEventsCall>>
  | Stream.Error<Effect.Success<ReturnType<TaskEventsCall>>>

/** Failures after which following reconnects: the connection, the server's shutdown, a `retry:` from it. */
const reconnects = (error: FollowError) =>
  error._tag === "HttpClientError" || error._tag === "ServiceUnavailable" || error._tag === "Retry"

/**
 * Follows the event stream of `{user}/{task}` (`GET /api/v2/tasks/{user}/{task}/events`): the task's
 * current state, then its changes as they happen. After a drop, an `overflow`, or the server ending the
 * stream (its shutdown), it reconnects after `retryAfter` (default 250 ms) with `Last-Event-ID` set to the
 * last event's id, so nothing is missed and nothing is repeated; `lastEventId` starts from a cursor of
 * one's own. Ends after `task_deleted`, or when a reconnect finds the task gone (404). Fails with the first
 * connection's refusal (a 404 for a task the caller cannot see, a 429 for too many streams).
 */
export const followTask = (
  client: Client,
  options: {
    readonly user: string
    readonly task: string
    readonly lastEventId?: string | undefined
    readonly retryAfter?: Duration.Input | undefined
  }
): Stream.Stream<FollowedEvent, FollowError> =>
  Stream.suspend(() => {
    let cursor = options.lastEventId
    let connected = false
    const connection = Stream.suspend(() =>
      Stream.unwrap(
        client.conversations.taskEvents({
          params: { user: options.user, task: options.task },
          headers: cursor === undefined ? {} : { "last-event-id": cursor }
        }).pipe(Effect.tap(() =>
          Effect.sync(() => {
            connected = true
          })
        ))
      )
    ).pipe(
      Stream.filter((event): event is FollowedEvent => event.event !== "overflow"),
      Stream.map((event): FollowedEvent | "gone" => {
        if (event.id !== undefined) cursor = event.id
        return event
      }),
      Stream.catch((error: FollowError) =>
        error._tag === "NotFound" && connected
          ? Stream.make("gone" as const)
          : reconnects(error)
          ? Stream.empty
          : Stream.fail(error)
      )
    )
    return connection.pipe(
      Stream.repeat(Schedule.spaced(options.retryAfter ?? "250 millis")),
      Stream.takeUntil((event) => event === "gone" || event.event === "task_deleted"),
      Stream.filter((event): event is FollowedEvent => event !== "gone")
    )
  })
