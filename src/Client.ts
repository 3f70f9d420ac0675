/**
 * The typed taskd client, derived from the HttpApi declaration. Used by the CLI, the tests and scripts.
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Api } from "./Api.ts"

export interface ClientOptions {
  readonly baseUrl: string
  /** A user API key or an agent token, sent as `Coder-Session-Token`. */
  readonly token?: Redacted.Redacted<string> | string | undefined
}

/** A client for the whole API; needs an `HttpClient` (FetchHttpClient.layer or NodeHttpClient.layer). */
export const makeClient = (options: ClientOptions) =>
  HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient: options.token === undefined ? undefined : HttpClient.mapRequest(
      HttpClientRequest.setHeader(
        "Coder-Session-Token",
        Redacted.isRedacted(options.token) ? Redacted.value(options.token) : options.token
      )
    )
  })

/** The client's type: one method per endpoint, grouped like the API. */
export type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>
