/**
 * `taskd serve` and `taskd migrate`: the standalone server on Node's HTTP server, and the migrations alone.
 */
import * as Cause from "effect/Cause"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as v8 from "node:v8"
import * as Database from "../Database/Database.ts"
import { migrate } from "../Database/Migrations.ts"
import * as Logging from "../Observability/Logging.ts"
import * as Tracing from "../Observability/Tracing.ts"
import * as Server from "../Server.ts"
import { setExitCode } from "./Output.ts"

const port = Flag.Int("port").pipe(
  Flag.withDescription("Port to listen on (PORT)."),
  Flag.withFallbackConfig(Config.Int("PORT")),
  Flag.withDefault(8080)
)

const host = Flag.String("host").pipe(
  Flag.withDescription("Address to listen on (HOST)."),
  Flag.withFallbackConfig(Config.String("HOST")),
  Flag.withDefault("127.0.0.1")
)

const logFormat = Flag.Literals("log-format", Logging.LogFormats).pipe(
  Flag.withDescription(
    "Log lines as JSON objects, one a line, or pretty for a person (TASKD_LOG_FORMAT). " +
      "Default: pretty when stdout is a terminal, JSON otherwise."
  ),
  Flag.withFallbackConfig(Config.Literals(Logging.LogFormats, "TASKD_LOG_FORMAT")),
  Flag.optional
)

const metricsPort = Flag.Int("metrics-port").pipe(
  Flag.withDescription(
    "Serve GET /metrics on this port (same address) instead of the API's port (TASKD_METRICS_PORT)."
  ),
  Flag.withFallbackConfig(Config.Int("TASKD_METRICS_PORT")),
  Flag.optional
)

/**
 * V8 grows the old generation up to four times the live heap before a full collection. A server under
 * upload load promotes the bodies of requests in flight, so its RSS climbed to 300+ MB over a live heap
 * of ~45 MB; growing by at most 2x keeps it near 200 MB for a few percent more GC time. A growth factor,
 * not a cap: a large heap still fits.
 */
const boundHeapGrowth = Effect.sync(() => v8.setFlagsFromString("--heap-growing-percent=100"))

/**
 * Without a collector to export to, the standalone server makes no spans: with the tracer disabled for the
 * whole server, Effect skips the HTTP tracer middleware (URL parse, header redaction), the handlers'
 * `Effect.fn` spans and a span per SQL statement. A host that mounts taskd's groups keeps its own tracing.
 */
const launchUntraced = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.launch(layer).pipe(Effect.withTracerEnabled(false))

/**
 * Untraced, as above, unless OTEL_EXPORTER_OTLP_ENDPOINT (or its traces variant) names a collector: then
 * with the tracer that exports there (src/Observability/Tracing.ts), released last so that the spans of the
 * shutdown are sent too.
 */
const launch = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Effect.flatMap(Tracing.TracingConfig, (tracing) =>
    Option.isNone(tracing)
      ? launchUntraced(layer)
      : Layer.launch(Layer.provide(layer, Tracing.layer(tracing.value))))

/**
 * A failure that stops the server (the port is taken, the database is unreachable) is logged like every
 * other line, as JSON in a pipe, instead of by the runtime's own logger; the process still exits 1. An
 * interruption (SIGTERM, SIGINT) is the normal end.
 */
const logFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchCauseIf(
    effect,
    (cause) => !Cause.hasInterruptsOnly(cause),
    (cause) => Effect.andThen(Effect.logError("taskd serve stopped", cause), setExitCode(1))
  )

export const serve = Command.make(
  "serve",
  { port, host, logFormat, metricsPort },
  (options) =>
    Effect.andThen(
      boundHeapGrowth,
      launch(Server.serverLayer({ ...options, metricsPort: Option.getOrUndefined(options.metricsPort) }))
    ).pipe(
      logFailure,
      Effect.provide(Logging.layer(Option.getOrElse(options.logFormat, Logging.defaultFormat)))
    )
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
