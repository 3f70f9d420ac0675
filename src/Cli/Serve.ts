/**
 * `taskd serve` and `taskd migrate`: the standalone server on Node's HTTP server, and the migrations alone.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as v8 from "node:v8"
import * as Database from "../Database/Database.ts"
import { migrate } from "../Database/Migrations.ts"
import * as Server from "../Server.ts"

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

/**
 * V8 grows the old generation up to four times the live heap before a full collection. A server under
 * upload load promotes the bodies of requests in flight, so its RSS climbed to 300+ MB over a live heap
 * of ~45 MB; growing by at most 2x keeps it near 200 MB for a few percent more GC time. A growth factor,
 * not a cap: a large heap still fits.
 */
const boundHeapGrowth = Effect.sync(() => v8.setFlagsFromString("--heap-growing-percent=100"))

/**
 * The standalone server exports no traces, so it makes no spans: with the tracer disabled for the whole
 * server, Effect skips the HTTP tracer middleware (URL parse, header redaction), the handlers' `Effect.fn`
 * spans and a span per SQL statement. A host that mounts taskd's groups keeps its own tracing.
 */
const launchUntraced = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.launch(layer).pipe(Effect.withTracerEnabled(false))

export const serve = Command.make(
  "serve",
  { port, host },
  (options) => Effect.andThen(boundHeapGrowth, launchUntraced(Server.serverLayer(options)))
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
