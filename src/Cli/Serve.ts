/**
 * `taskd serve` and `taskd migrate`: the standalone server on Node's HTTP server, and the migrations alone.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer, type Server as NodeServer } from "node:http"
import type { Duplex } from "node:stream"
import * as v8 from "node:v8"
import * as Database from "../Database/Database.ts"
import { migrate } from "../Database/Migrations.ts"
import * as DefaultProvisioner from "../Provisioner/Default.ts"
import { Provisioner } from "../Provisioner/Provisioner.ts"
import * as Server from "../Server.ts"
import { bootstrap } from "../Users/Bootstrap.ts"

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

/**
 * TASKD_REQUEST_TIMEOUT bounds how long a client may take to send a whole request (a slow or stalled
 * upload is answered 408 and its connection closed), TASKD_HEADERS_TIMEOUT how long for the headers, and
 * TASKD_SHUTDOWN_TIMEOUT how long requests in flight may take to finish once shutdown began.
 */
export const ServerConfig = Config.all({
  requestTimeout: Config.duration("TASKD_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  headersTimeout: Config.duration("TASKD_HEADERS_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  shutdownTimeout: Config.duration("TASKD_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30)))
})

/** Node's HTTP server with taskd's read timeouts; Node checks them every `connectionsCheckingInterval`. */
const nodeServer = (config: Config.Config.Success<typeof ServerConfig>) => {
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
  return server
}

/** Stops accepting connections and waits for the requests in flight, at most `timeout`, then cuts the rest. */
const closeGracefully = (server: NodeServer, timeout: Duration.Duration) =>
  Effect.async<void>((resume) => {
    if (!server.listening) return resume(Effect.void)
    const cut = setTimeout(() => server.closeAllConnections(), Duration.toMillis(timeout))
    server.close(() => {
      clearTimeout(cut)
      resume(Effect.void)
    })
  })

/**
 * The shutdown order, as a finalizer that runs before any other of the server's: first the workspaces
 * are stopped while the server still answers (their agents upload snapshots on the way out), then the
 * server stops accepting and lets the requests in flight finish; the job runner, the provisioner and
 * the database pool close after that. The provisioner is the same instance the handlers use (layers
 * are shared by reference).
 */
const orderlyShutdown = (server: NodeServer, timeout: Duration.Duration) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const provisioner = yield* Provisioner
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Effect.logInfo("shutting down")
        yield* provisioner.stopAll
        yield* closeGracefully(server, timeout)
        yield* Effect.logInfo("stopped serving; closing the job runner and the database pool")
      })
    )
  })).pipe(Layer.provide(DefaultProvisioner.layer))

/** The whole standalone server on `host:port`, with the database the environment names. */
export const serverLayer = (options: { readonly port: number; readonly host: string }) =>
  Layer.unwrapEffect(Effect.map(ServerConfig, (config) => {
    const server = nodeServer(config)
    return orderlyShutdown(server, config.shutdownTimeout).pipe(
      Layer.provideMerge(Server.layer()),
      Layer.provide(NodeHttpServer.layer(() => server, { port: options.port, host: options.host })),
      Layer.provide(Bootstrap),
      Layer.provide(Database.migrated(Database.fromConfig))
    )
  }))

const port = Options.integer("port").pipe(
  Options.withDescription("Port to listen on (PORT)."),
  Options.withFallbackConfig(Config.integer("PORT")),
  Options.withDefault(8080)
)

const host = Options.text("host").pipe(
  Options.withDescription("Address to listen on (HOST)."),
  Options.withFallbackConfig(Config.string("HOST")),
  Options.withDefault("127.0.0.1")
)

/**
 * V8 grows the old generation up to four times the live heap before a full collection. A server under
 * upload load promotes the bodies of requests in flight, so its RSS climbed to 300+ MB over a live heap
 * of ~45 MB; growing by at most 2x keeps it near 200 MB for a few percent more GC time. A growth factor,
 * not a cap: a large heap still fits.
 */
const boundHeapGrowth = Effect.sync(() => v8.setFlagsFromString("--heap-growing-percent=100"))

/**
 * The standalone server exports no traces, so it makes no spans: the HTTP tracer middleware (URL parse,
 * header redaction) and a span per SQL statement cost ~10% of the CPU of an upload. A host that mounts
 * taskd's groups keeps its own tracing.
 */
const launchUntraced = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.launch(layer.pipe(HttpMiddleware.withTracerDisabledWhen(() => true))).pipe(Effect.withTracerEnabled(false))

export const serve = Command.make(
  "serve",
  { port, host },
  (options) => Effect.zipRight(boundHeapGrowth, launchUntraced(serverLayer(options)))
).pipe(Command.withDescription("Serve the API (embedded PGlite unless DATABASE_URL is set)."))

export const migrateCommand = Command.make("migrate", {}, () =>
  Effect.gen(function*() {
    const applied = yield* migrate()
    yield* Console.log(
      applied.length === 0
        ? "The database is up to date."
        : `Applied ${applied.map((m) => `${String(m.id).padStart(4, "0")}_${m.name}`).join(", ")}.`
    )
  }).pipe(Effect.provide(Database.fromConfig))).pipe(Command.withDescription("Apply the SQL migrations and exit."))
