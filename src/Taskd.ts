/**
 * taskd assembled from replaceable parts. The handlers need a SqlClient, a TokenAuth, a Provisioner and
 * an AgentApiClient; `layer` supplies taskd's defaults for whichever parts the host does not.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"
import * as AgentApi from "./AgentApi/AgentApiClient.ts"
import { Api } from "./Api.ts"
import * as AuthMiddleware from "./Auth/Middleware.ts"
import * as TokenAuth from "./Auth/TokenAuth.ts"
import { HealthHandlers } from "./Health/Http.ts"
import * as DefaultProvisioner from "./Provisioner/Default.ts"
import * as JobRunner from "./Provisioner/JobRunner.ts"
import type { Provisioner } from "./Provisioner/Provisioner.ts"
import { AgentSnapshotsHandlers } from "./Snapshots/Http.ts"
import { TasksHandlers } from "./Tasks/Http.ts"
import { TemplatesHandlers } from "./Templates/Http.ts"
import { UsersHandlers } from "./Users/Http.ts"
import { AgentHandlers } from "./Workspaces/Http.ts"

/** Every group's handlers and the authentication middlewares. */
export const Handlers = Layer.mergeAll(
  HealthHandlers,
  UsersHandlers,
  TemplatesHandlers,
  TasksHandlers,
  AgentHandlers,
  AgentSnapshotsHandlers
).pipe(Layer.provide(AuthMiddleware.layer))

/** taskd's own TokenAuth (API keys and agent tokens in its database); needs SqlClient. */
export const DefaultTokenAuth = TokenAuth.layer

export interface Parts<E = never, R = never> {
  readonly tokenAuth?: Layer.Layer<TokenAuth.TokenAuth, E, R>
  readonly provisioner?: Layer.Layer<Provisioner, E, R>
  readonly agentApi?: Layer.Layer<AgentApi.AgentApiClient, E, R>
}

/**
 * taskd's handlers with their services, defaults for the parts not given. Still needs a SqlClient (whose
 * database has taskd's migrations applied).
 */
export const services = <E = never, R = never>(parts: Parts<E, R> = {}) => {
  const provisioner: Layer.Layer<Provisioner, E | ConfigError.ConfigError, R | SqlClient.SqlClient> =
    parts.provisioner ?? DefaultProvisioner.layer
  const tokenAuth: Layer.Layer<TokenAuth.TokenAuth, E, R | SqlClient.SqlClient> = parts.tokenAuth ?? DefaultTokenAuth
  const agentApi: Layer.Layer<AgentApi.AgentApiClient, E | ConfigError.ConfigError, R> = parts.agentApi ??
    AgentApi.layer
  return Handlers.pipe(
    Layer.provide(JobRunner.layer),
    Layer.provide(provisioner),
    Layer.provide(tokenAuth),
    Layer.provide(agentApi)
  )
}

/** The API's routes for an `HttpLayerRouter`, built from `parts` and taskd's defaults; needs a SqlClient. */
export const routes = <E = never, R = never>(parts: Parts<E, R> = {}) =>
  HttpLayerRouter.addHttpApi(Api).pipe(Layer.provide(services(parts)))
