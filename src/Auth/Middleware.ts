/**
 * The authentication middlewares declared in Api.ts, implemented with whatever TokenAuth is provided.
 * The declared security scheme documents the usual header (and decodes only it); TokenAuth itself decides
 * where to look, so the credential the framework decoded is not used. A request without the header still
 * reaches these handlers. Defects (the database is down, a bug) become Coder's 503 or 500 in CoderEdge.
 */
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Layer from "effect/Layer"
import { AgentAuthentication, UserAuthentication } from "../Api.ts"
import { CurrentAgent, CurrentUser } from "../Domain/Actor.ts"
import { TokenAuth } from "./TokenAuth.ts"

export const UserAuthenticationLive = Layer.effect(
  UserAuthentication,
  Effect.map(TokenAuth, (auth) =>
    UserAuthentication.of({
      sessionToken: (httpEffect) =>
        Effect.flatMap(
          Effect.flatMap(HttpServerRequest.HttpServerRequest, auth.authenticateUser),
          (user) => Effect.provideService(httpEffect, CurrentUser, user)
        )
    }))
)

export const AgentAuthenticationLive = Layer.effect(
  AgentAuthentication,
  Effect.map(TokenAuth, (auth) =>
    AgentAuthentication.of({
      agentToken: (httpEffect) =>
        Effect.flatMap(
          Effect.flatMap(HttpServerRequest.HttpServerRequest, auth.authenticateAgent),
          (agent) => Effect.provideService(httpEffect, CurrentAgent, agent)
        )
    }))
)

/** Both authentication middlewares; needs TokenAuth. */
export const layer = Layer.mergeAll(UserAuthenticationLive, AgentAuthenticationLive)
