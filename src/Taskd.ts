/**
 * taskd assembled from replaceable parts. The handlers need a SqlClient, a TokenAuth, a Provisioner, an
 * AgentApiClient and a Clock; `layer` supplies taskd's defaults for whichever parts the host does not.
 */
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Clock from "effect/Clock"
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

/** The replaceable parts of taskd; each one left out is taskd's default. */
export interface Parts<E = never, R = never> {
  /**
   * Turns a request into a taskd user or workspace agent. Default: taskd's API keys and agent tokens, read
   * from the cookie, query parameter, `Coder-Session-Token` header or bearer token, as Coder does.
   */
  readonly tokenAuth?: Layer.Layer<TokenAuth.TokenAuth, E, R>
  /**
   * Starts and stops task workspaces. Default: `TASKD_PROVISIONER` (the local process provisioner, or the
   * instant one).
   */
  readonly provisioner?: Layer.Layer<Provisioner, E, R>
  /** Talks to the agentapi of a running task, for live logs and send. Default: HTTP with taskd's timeouts. */
  readonly agentApi?: Layer.Layer<AgentApi.AgentApiClient, E, R>
  /**
   * The clock of every timestamp taskd writes. Default: the clock of the fibers that serve (Effect's).
   * Installed with `Layer.setClock`, so it also becomes the clock of the server the routes are mounted in.
   */
  readonly clock?: Clock.Clock
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
  const handlers = Handlers.pipe(
    Layer.provide(JobRunner.layer),
    Layer.provide(provisioner),
    Layer.provide(tokenAuth),
    Layer.provide(agentApi)
  )
  return parts.clock === undefined ? handlers : Layer.provide(handlers, Layer.setClock(parts.clock))
}

/** The API's routes for an `HttpLayerRouter`, built from `parts` and taskd's defaults; needs a SqlClient. */
export const routes = <E = never, R = never>(parts: Parts<E, R> = {}) =>
  HttpLayerRouter.addHttpApi(Api).pipe(Layer.provide(services(parts)))

/** The OpenAPI 3.1 document of the API, derived from the declaration in Api.ts. */
export const openApiDocument: OpenApi.OpenAPISpec = OpenApi.fromApi(Api)

/** Where the document and the docs page are served. */
export const openApiPath = "/api/v2/openapi.json"
export const docsPath = "/api/v2/docs"

/**
 * `GET /api/v2/openapi.json` (the document) and `GET /api/v2/docs` (Swagger UI rendering it). Both work
 * offline: @effect/platform inlines the Swagger UI bundle into the page, and the page embeds the document.
 */
export const docs: Layer.Layer<never, never, HttpLayerRouter.HttpRouter> = Layer.mergeAll(
  HttpLayerRouter.add("GET", openApiPath, HttpServerResponse.unsafeJson(openApiDocument)),
  HttpApiSwagger.layerHttpLayerRouter({ api: Api, path: docsPath })
)

/**
 * taskd for a host's `HttpLayerRouter`: the API's routes built from `parts`, and the OpenAPI document and
 * docs page. Needs a SqlClient whose database has taskd's migrations applied (see `migrate`).
 */
export const layer = <E = never, R = never>(parts: Parts<E, R> = {}) => Layer.mergeAll(routes(parts), docs)

/** Coder answers unknown routes with this body. */
export const NotFoundRoute = HttpLayerRouter.add(
  "*",
  "/*",
  HttpServerResponse.json({ message: "Route not found." }, { status: 404 })
)

/** A fetch-style handler and the function that releases what it holds (database pool, job runner). */
export interface WebHandler {
  readonly handler: (request: Request) => Promise<Response>
  readonly dispose: () => Promise<void>
}

/**
 * taskd as `(Request) => Promise<Response>`, for `Deno.serve`, Bun, workers and other fetch-style hosts.
 * Call it once: the routes and `database` are built on the first request and kept until `dispose`. Unknown
 * routes get Coder's 404. `database` must provide a migrated SqlClient (e.g. `migrated(fromConfig)`).
 */
export const webHandler = <E = never, DE = never>(
  database: Layer.Layer<SqlClient.SqlClient, DE>,
  parts: Parts<E, SqlClient.SqlClient> = {}
): WebHandler => {
  const app = Layer.mergeAll(layer(parts), NotFoundRoute).pipe(
    Layer.provide(database),
    Layer.provide(HttpServer.layerContext)
  )
  const web = HttpLayerRouter.toWebHandler(app, { disableLogger: true })
  // `parts` need nothing but the database, so the handler needs no context of its own.
  const handler = web.handler as (request: Request) => Promise<Response>
  return { handler: (request) => handler(request), dispose: web.dispose }
}
