/**
 * The typed taskd client, derived from the HttpApi declaration. Used by the CLI, the tests and scripts.
 */
import * as Effect from "effect/Effect"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import { Api } from "./Api.ts"
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
