/**
 * `taskd serve` and `taskd migrate`: the standalone server on Node's HTTP server, and the migrations alone.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
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
 * The whole standalone server on `host:port`, with the database the environment names. The provisioner is
 * built first and exposed, so that `serve` can stop workspaces while the server still answers.
 */
export const serverLayer = (options: { readonly port: number; readonly host: string }) =>
  Server.layer({ provisioner: Layer.effect(Provisioner, Provisioner) }).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host })),
    Layer.provideMerge(DefaultProvisioner.layer),
    Layer.provide(Bootstrap),
    Layer.provideMerge(Database.migrated(Database.fromConfig))
  )

/**
 * Runs the server until interrupted (SIGINT, SIGTERM). On the way out, local workspaces are stopped first,
 * while the server still answers, so their agents can upload their snapshots; then everything closes.
 */
export const runServer = (options: { readonly port: number; readonly host: string }) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(serverLayer(options))
    const provisioner = Context.get(context, Provisioner)
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() =>
        Effect.zipRight(Effect.logInfo("shutting down: stopping workspaces"), provisioner.stopAll)
      )
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

export const serve = Command.make(
  "serve",
  { port, host },
  runServer
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
