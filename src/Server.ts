/**
 * taskd, served: the one server module that the CLI (`taskd serve`) and the library (src/index.ts) both use.
 *
 * - `layer(parts)`: taskd's routes (the HttpApi groups with their middleware) and the OpenAPI document and
 *   docs page, for a host's `HttpRouter`; each part the host does not supply is taskd's default.
 * - `webHandler(database, parts)`: the same as `(Request) => Promise<Response>` for Deno.serve and the like.
 * - `serverLayer({ port, host })`: the standalone server on Node's HTTP server, with the database the
 *   environment names.
 *
 * Mounted anywhere, taskd behaves the same: the body cap, Go-style JSON reading and Coder's error bodies
 * are middleware declared on the groups (src/Api.ts), not server-level middleware. Only Coder's 404 for
 * unknown routes and the request log belong to the server (a host keeps its own).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiSwagger from "effect/http-api/HttpApiSwagger"
import * as OpenApi from "effect/http-api/OpenApi"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"
import { createServer, type IncomingMessage, type Server as NodeServer, type ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import * as AgentApi from "./AgentApi/AgentApiClient.ts"
import { Api } from "./Api.ts"
import * as AuthMiddleware from "./Auth/Middleware.ts"
import * as TokenAuth from "./Auth/TokenAuth.ts"
import { consoleLayer } from "./Console/Serve.ts"
import { ConsoleHandlers } from "./Console/Session.ts"
import { ChangeFeed } from "./Conversations/ChangeFeed.ts"
import { ConversationsHandlers } from "./Conversations/Http.ts"
import * as RecorderSupervisor from "./Conversations/RecorderSupervisor.ts"
import * as Database from "./Database/Database.ts"
import { HealthHandlers } from "./Health/Http.ts"
import { Lifecycle } from "./Health/Lifecycle.ts"
import { CoderJsonBodyLive } from "./Http/Body.ts"
import { CoderEdgeLive } from "./Http/Edge.ts"
import * as MetricsRoute from "./Observability/MetricsRoute.ts"
import * as DefaultProvisioner from "./Provisioner/Default.ts"
import * as JobRunner from "./Provisioner/JobRunner.ts"
import { Provisioner } from "./Provisioner/Provisioner.ts"
import { AgentSnapshotsHandlers } from "./Snapshots/Http.ts"
import { SnapshotUploadGuardLive } from "./Snapshots/UploadGuard.ts"
import { TasksHandlers } from "./Tasks/Http.ts"
import { TaskParamLive } from "./Tasks/TaskParam.ts"
import { TemplatesHandlers } from "./Templates/Http.ts"
import * as TemplateParams from "./Templates/Params.ts"
import { bootstrap } from "./Users/Bootstrap.ts"
import { UsersHandlers } from "./Users/Http.ts"
import { RequireOwnerLive } from "./Users/RequireOwner.ts"
import * as WebhookDelivery from "./Webhooks/Delivery.ts"
import { QueueHandlers, WebhooksHandlers } from "./Webhooks/Http.ts"
import * as QueueWorker from "./Webhooks/QueueWorker.ts"
import { AgentHandlers } from "./Workspaces/Http.ts"

// -----------------------------------------------------------------------------------------------------------
// taskd from parts
// -----------------------------------------------------------------------------------------------------------

/**
 * The middlewares declared in Api.ts: the edge (Coder's bodies, the body reader), authentication, and the
 * checks that run before a body is read (owner, `{organization}`, `{template}`, `{task}`, the upload's).
 */
const Middleware = Layer.mergeAll(
  CoderEdgeLive,
  CoderJsonBodyLive,
  AuthMiddleware.layer,
  RequireOwnerLive,
  TemplateParams.layer,
  TaskParamLive,
  SnapshotUploadGuardLive
)

/**
 * Every group's handlers with the middlewares the groups declare. Needs TokenAuth, a Provisioner's
 * JobSignal, an AgentApiClient, SqlClient.
 */
export const Handlers = Layer.mergeAll(
  HealthHandlers,
  UsersHandlers,
  TemplatesHandlers,
  TasksHandlers,
  ConversationsHandlers,
  WebhooksHandlers,
  QueueHandlers,
  AgentHandlers,
  AgentSnapshotsHandlers,
  ConsoleHandlers
).pipe(Layer.provide(Middleware))

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
 * database has taskd's migrations applied). The instance's Lifecycle (readiness, the job runner's drain) is
 * `Lifecycle.layer`: a host that builds that same layer outside `HttpRouter.serve` shares it with the
 * handlers, and drains the instance with it, as the standalone server does.
 */
export const services = <E = never, R = never>(parts: Parts<E, R> = {}) => {
  const provisioner: Layer.Layer<Provisioner, E | ConfigError, R | SqlClient.SqlClient> = parts.provisioner ??
    DefaultProvisioner.layer
  const tokenAuth: Layer.Layer<TokenAuth.TokenAuth, E, R | SqlClient.SqlClient> = parts.tokenAuth ?? DefaultTokenAuth
  const agentApi: Layer.Layer<AgentApi.AgentApiClient, E | ConfigError, R> = parts.agentApi ?? AgentApi.layer
  // The recorders run wherever the handlers do (standalone, a host's router, the web handler), on the same
  // change feed (their writes reach local subscribers at once) and job runner (its instance id); TASKD_RECORDER=off
  // turns them off.
  // The webhook delivery and queued-input workers (src/Webhooks/) run wherever the handlers do, too.
  const handlers = Layer.mergeAll(Handlers, RecorderSupervisor.layer, WebhookDelivery.layer, QueueWorker.layer).pipe(
    Layer.provide(ChangeFeed.layer),
    Layer.provide(JobRunner.layer),
    Layer.provide(provisioner),
    Layer.provide(tokenAuth),
    Layer.provide(agentApi),
    Layer.provide(Lifecycle.layer)
  )
  return parts.clock === undefined ? handlers : Layer.provide(handlers, Layer.succeed(Clock.Clock, parts.clock))
}

/** The API's routes for an `HttpRouter`, built from `parts` and taskd's defaults; needs a SqlClient. */
export const routes = <E = never, R = never>(parts: Parts<E, R> = {}) =>
  HttpApiBuilder.layer(Api).pipe(Layer.provide(services(parts)))

/** The OpenAPI 3.1 document of the API, derived from the declaration in Api.ts. */
export const openApiDocument: OpenApi.OpenAPISpec = OpenApi.fromApi(Api)

/** Where the document and the docs page are served. */
export const openApiPath = "/api/v2/openapi.json"
export const docsPath = "/api/v2/docs"

/**
 * `GET /api/v2/openapi.json` (the document) and `GET /api/v2/docs` (Swagger UI rendering it). Both work
 * offline: effect inlines the Swagger UI bundle into the page, and the page embeds the document.
 */
export const docs: Layer.Layer<never, never, HttpRouter.HttpRouter> = Layer.mergeAll(
  HttpRouter.add("GET", openApiPath, HttpServerResponse.jsonUnsafe(openApiDocument)),
  HttpApiSwagger.layer(Api, { path: docsPath })
)

/**
 * taskd for a host's `HttpRouter`: the API's routes built from `parts`, and the OpenAPI document and
 * docs page. Needs a SqlClient whose database has taskd's migrations applied (see `migrated`).
 */
export const layer = <E = never, R = never>(parts: Parts<E, R> = {}) => Layer.mergeAll(routes(parts), docs)

/** Coder answers unknown routes with this body. */
export const NotFoundRoute = HttpRouter.add(
  "*",
  "/*",
  HttpServerResponse.jsonUnsafe({ message: "Route not found." }, { status: 404 })
)

// -----------------------------------------------------------------------------------------------------------
// The request log
// -----------------------------------------------------------------------------------------------------------

const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/**
 * Logs method, path and status of every request at debug level; never the query string or headers (they
 * may carry tokens). It replaces the router's own logger (which logs every request at Info with its URL).
 * The level is checked first: annotating the log rewrites fiber state, which every request would pay for
 * with debug off.
 */
export const requestLog = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.withFiber((fiber) => {
    if (!LogLevel.isGreaterThanOrEqualTo("Debug", fiber.getRef(References.MinimumLogLevel))) return app
    return Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        Effect.tap(app, (response) =>
          Effect.logDebug("request").pipe(
            Effect.annotateLogs({ method: request.method, path: pathOf(request.url), status: response.status })
          ))
    )
  })

/** The server's middleware: the request metrics (src/Observability/MetricsRoute.ts), then the request log. */
const serverMiddleware = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  requestLog(MetricsRoute.recordRequests(app))

/**
 * Serves `app` (routes for an HttpRouter) with Coder's 404, the request log and the request metrics, on the
 * HttpServer provided; `GET /metrics` too unless `metrics` is false (served on a port of its own).
 */
const serveRoutes = <A, E, R>(app: Layer.Layer<A, E, R>, metrics = true) =>
  HttpRouter.serve(Layer.mergeAll(app, NotFoundRoute, metrics ? MetricsRoute.layer : Layer.empty), {
    disableLogger: true,
    middleware: serverMiddleware
  })

/**
 * taskd served on whatever HttpServer is provided (`layer(parts)` and the web console (`consoleLayer`, at
 * `/`) with Coder's 404 and the request log): what `taskd serve` runs, without the Node server and the environment's database. Needs a migrated
 * SqlClient and an HttpServer (with its platform services, e.g. `NodeHttpServer.layer(...)`).
 */
export const serve = <E = never, R = never>(parts: Parts<E, R> = {}) =>
  serveRoutes(Layer.merge(layer(parts), consoleLayer))

// -----------------------------------------------------------------------------------------------------------
// As a fetch-style handler
// -----------------------------------------------------------------------------------------------------------

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
  // Only the SqlClient of `database`: a layer built from a host's context may carry more (its HttpRouter,
  // say), which must not replace the web handler's own router.
  const sql = Layer.effect(SqlClient.SqlClient, Effect.service(SqlClient.SqlClient)).pipe(Layer.provide(database))
  const app = Layer.mergeAll(layer(parts), NotFoundRoute, MetricsRoute.layer).pipe(
    Layer.provide(sql),
    Layer.provide(HttpServer.layerServices)
  )
  const web = HttpRouter.toWebHandler(app, { disableLogger: true, middleware: serverMiddleware })
  // `parts` need nothing but the database, so the handler needs no context of its own.
  const handler = web.handler as (request: Request) => Promise<Response>
  return { handler: (request) => handler(request), dispose: web.dispose }
}

// -----------------------------------------------------------------------------------------------------------
// The standalone server
// -----------------------------------------------------------------------------------------------------------

/** Bootstraps an empty database and prints a generated admin token, once. */
const Bootstrap = Layer.effectDiscard(Effect.gen(function*() {
  const result = yield* bootstrap
  if (Option.isSome(result.generatedToken)) {
    yield* Console.log(
      `Created organization "default" and owner "admin".\n` +
        `Admin session token (shown only this once): ${result.generatedToken.value}`
    )
  }
}))

/** Once the server listens: where to open the web console (sign in with the admin token printed above). */
const announceConsole = (options: { readonly port: number; readonly host: string }) => {
  const host = options.host === "0.0.0.0" || options.host === "::"
    ? "127.0.0.1"
    : options.host.includes(":")
    ? `[${options.host}]`
    : options.host
  return Layer.effectDiscard(
    Effect.andThen(HttpServer.HttpServer, Console.log(`Web console: http://${host}:${options.port}/`))
  )
}

/**
 * TASKD_REQUEST_TIMEOUT bounds how long a client may take to send a whole request (a slow or stalled
 * upload is answered 408 and its connection closed), TASKD_HEADERS_TIMEOUT how long for the headers, and
 * TASKD_SHUTDOWN_TIMEOUT how long requests in flight may take to finish once shutdown began.
 *
 * TASKD_SHUTDOWN_DELAY is how long, from SIGTERM, the server keeps accepting requests while `/readyz`
 * answers 503, so that a load balancer notices and sends new requests elsewhere before the listener
 * closes (the workspaces' stops run meanwhile and count toward it). Default: 5 seconds on a Postgres
 * (`DATABASE_URL`, where several instances may share the load), none on the embedded database (one process,
 * nothing to fail over to).
 */
export const ServerConfig = Config.all({
  requestTimeout: Config.Duration("TASKD_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  headersTimeout: Config.Duration("TASKD_HEADERS_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  shutdownTimeout: Config.Duration("TASKD_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  shutdownDelay: Config.all({
    delay: Config.option(Config.Duration("TASKD_SHUTDOWN_DELAY")),
    shared: Config.option(Config.String("DATABASE_URL"))
  }).pipe(
    Config.map(({ delay, shared }) =>
      Option.getOrElse(delay, () => Option.isSome(shared) ? Duration.seconds(5) : Duration.zero)
    )
  )
})

type ServerSettings = Config.Success<typeof ServerConfig>

/** Node's HTTP server with taskd's read timeouts; Node checks them every `connectionsCheckingInterval`. */
const nodeServer = (config: ServerSettings) => {
  const requestTimeout = Math.max(1, Duration.toMillis(config.requestTimeout))
  const headersTimeout = Math.min(Math.max(1, Duration.toMillis(config.headersTimeout)), requestTimeout)
  const server = createServer({
    requestTimeout,
    headersTimeout,
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(headersTimeout / 4)))
  })
  // What Node answers by itself (a read timeout, an unparsable request) gets Coder's body too.
  server.on("clientError", (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === "ECONNRESET" || !socket.writable) return socket.destroy()
    const timedOut = error.code === "ERR_HTTP_REQUEST_TIMEOUT" || error.code === "ERR_HTTP_HEADERS_TIMEOUT"
    const body = JSON.stringify(
      timedOut
        ? {
          message: "Request timed out.",
          detail: `The request was not received in full within ${Math.round(requestTimeout / 1000)} s.`
        }
        : { message: "Bad request.", detail: "The request is not valid HTTP." }
    ) + "\n"
    socket.end(
      `HTTP/1.1 ${timedOut ? "408 Request Timeout" : "400 Bad Request"}\r\n` +
        "Content-Type: application/json; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    )
  })
  // Node listens before taskd's routes are attached (they are built once the server is there), and a
  // request with no listener to take it would hang forever. Such a request, one that comes before the
  // routes are attached or after they are detached at shutdown, is answered 503 with Coder's body: a load
  // balancer or probe retries, a client sees why.
  let attached = false
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (server.listenerCount("request") > 1) return
    const body = JSON.stringify(
      attached
        ? { message: "The server is shutting down.", detail: "Send the request to another taskd instance." }
        : { message: "The server is starting.", detail: "Retry in a moment." }
    ) + "\n"
    request.resume()
    response.writeHead(503, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      "connection": "close"
    }).end(body)
  })
  server.on("newListener", (event) => {
    if (event === "request") attached = true
  })
  return server
}

/** Stops accepting connections and waits for the requests in flight, at most `timeout`, then cuts the rest. */
const closeGracefully = (server: NodeServer, timeout: Duration.Duration) =>
  Effect.callback<void>((resume) => {
    if (!server.listening) return resume(Effect.void)
    const cut = setTimeout(() => server.closeAllConnections(), Duration.toMillis(timeout))
    server.close(() => {
      clearTimeout(cut)
      resume(Effect.void)
    })
  })

/**
 * The shutdown order, as a finalizer that runs before any other of the server's:
 *
 * 1. the instance drains (Lifecycle): `/readyz` answers 503 from now on, and the job runner claims no job
 *    and starts no workspace (a start it is making is waited for, so the next step stops it too);
 * 2. the workspaces are stopped while the server still answers (their agents upload snapshots on the way
 *    out), and the server keeps accepting for at least TASKD_SHUTDOWN_DELAY, so that a load balancer
 *    sees the 503 and stops sending new requests;
 * 3. the server stops accepting and lets the requests in flight finish (at most TASKD_SHUTDOWN_TIMEOUT).
 *
 * The job runner (which puts the jobs it still holds back in the queue and marks this instance stopped),
 * the provisioner and the database pool close after that. The Lifecycle and the provisioner are the
 * instances the handlers and the job runner use (layers are shared by reference, so they are built
 * outside `serve`: see serverLayer).
 */
const orderlyShutdown = (server: NodeServer, config: ServerSettings) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const provisioner = yield* Provisioner
    const lifecycle = yield* Lifecycle
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Effect.logInfo("shutting down: /readyz answers 503 from now on")
        yield* Effect.all([
          lifecycle.drain.pipe(Effect.timeoutOption(config.shutdownTimeout), Effect.andThen(provisioner.stopAll)),
          Effect.sleep(config.shutdownDelay)
        ], { concurrency: "unbounded", discard: true })
        yield* closeGracefully(server, config.shutdownTimeout)
        yield* Effect.logInfo("stopped serving; closing the job runner and the database pool")
      })
    )
  }))

/** `GET /metrics` alone (and Coder's 404) on a listener of its own: `taskd serve --metrics-port`. */
const metricsListener = (port: number, host: string) =>
  HttpRouter.serve(Layer.mergeAll(MetricsRoute.layer, NotFoundRoute), { disableLogger: true }).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port, host }))
  )

/**
 * The whole standalone server on `host:port`: Node's HTTP server with taskd's timeouts, serving `layer()`,
 * Coder's 404, the request log and `/metrics` (on `host:metricsPort` instead, when given), on the database
 * the environment names (migrated, bootstrapped).
 */
export const serverLayer = (
  options: { readonly port: number; readonly host: string; readonly metricsPort?: number | undefined }
) =>
  Layer.unwrap(Effect.map(ServerConfig, (config) => {
    const server = nodeServer(config)
    return orderlyShutdown(server, config).pipe(
      Layer.provideMerge(serveRoutes(Layer.merge(layer(), consoleLayer), options.metricsPort === undefined)),
      Layer.merge(options.metricsPort === undefined ? Layer.empty : metricsListener(options.metricsPort, options.host)),
      Layer.merge(announceConsole(options)),
      // Built here, outside serve: HttpRouter.serve builds its routes on a fork of the layer cache, and the
      // provisioner the shutdown stops must be the one the handlers started workspaces with, the Lifecycle
      // it drains the one that readiness and the job runner read.
      Layer.provideMerge(DefaultProvisioner.layer),
      Layer.provideMerge(Lifecycle.layer),
      Layer.provide(NodeHttpServer.layer(() => server, { port: options.port, host: options.host })),
      Layer.provide(Bootstrap),
      Layer.provide(Database.migrated(Database.fromConfig))
    )
  }))
