/**
 * The authentication middlewares declared in Api.ts, implemented with whatever TokenAuth is provided.
 * The declared security scheme documents the usual header; TokenAuth itself decides where to look.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AgentAuthentication, UserAuthentication } from "../Api.ts"
import { TokenAuth } from "./TokenAuth.ts"

export const UserAuthenticationLive = Layer.effect(
  UserAuthentication,
  Effect.map(TokenAuth, (auth) => ({
    sessionToken: () => Effect.flatMap(HttpServerRequest.HttpServerRequest, auth.authenticateUser)
  }))
)

export const AgentAuthenticationLive = Layer.effect(
  AgentAuthentication,
  Effect.map(TokenAuth, (auth) => ({
    agentToken: () => Effect.flatMap(HttpServerRequest.HttpServerRequest, auth.authenticateAgent)
  }))
)

export const layer = Layer.mergeAll(UserAuthenticationLive, AgentAuthenticationLive)
