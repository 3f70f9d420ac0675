/**
 * The authentication middlewares declared in Api.ts, implemented with whatever TokenAuth is provided.
 * The declared security scheme documents the usual header; TokenAuth itself decides where to look. A
 * defect (the database is down, a bug) becomes Coder's 503 or 500 here, as it does in the handlers.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AgentAuthentication, UserAuthentication } from "../Api.ts"
import { defectToError } from "../Http/Edge.ts"
import { TokenAuth } from "./TokenAuth.ts"

export const UserAuthenticationLive = Layer.effect(
  UserAuthentication,
  Effect.map(TokenAuth, (auth) => ({
    sessionToken: () =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, auth.authenticateUser).pipe(
        Effect.catchAllDefect(defectToError)
      )
  }))
)

export const AgentAuthenticationLive = Layer.effect(
  AgentAuthentication,
  Effect.map(TokenAuth, (auth) => ({
    agentToken: () =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, auth.authenticateAgent).pipe(
        Effect.catchAllDefect(defectToError)
      )
  }))
)

export const layer = Layer.mergeAll(UserAuthenticationLive, AgentAuthenticationLive)
