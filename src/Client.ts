/**
 * The typed taskd client, derived from the HttpApi declaration. Used by the CLI, the tests and scripts.
 */
import type * as Effect from "effect/Effect"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import { Api } from "./Api.ts"

export interface ClientOptions {
  readonly baseUrl: string
  /** A user API key or an agent token, sent as `Coder-Session-Token`. */
  readonly token?: Redacted.Redacted<string> | string | undefined
}

/** The client's type: one method per endpoint, grouped like the API. */
export type Client = HttpApiClient.ForApi<typeof Api>

/** A client for the whole API; needs an `HttpClient` (FetchHttpClient.layer or NodeHttpClient.layer). */
export const makeClient = (options: ClientOptions): Effect.Effect<Client, never, HttpClient.HttpClient> => {
  const token = options.token
  return HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    ...(token === undefined ? {} : {
      transformClient: HttpClient.mapRequest(
        HttpClientRequest.setHeader("Coder-Session-Token", Redacted.isRedacted(token) ? Redacted.value(token) : token)
      )
    })
  })
}
