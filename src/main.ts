/**
 * The taskd command line: `serve`, `migrate` and the admin commands.
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Admin from "./Cli/Admin.ts"
import { agent } from "./Cli/Agent.ts"
import { migrateCommand, serve } from "./Cli/Serve.ts"
import * as Snapshots from "./Cli/Snapshots.ts"

const taskd = Command.make("taskd").pipe(
  Command.withDescription("A server for AI coding tasks and their conversation logs (the Coder Tasks API)."),
  Command.withSubcommands([
    serve,
    migrateCommand,
    Admin.users,
    Admin.tokens,
    Admin.templates,
    Snapshots.snapshots,
    agent
  ])
)

const cli = Command.run(taskd, { name: "taskd", version: "0.1.0" })

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false, teardown: Snapshots.teardown })
)
