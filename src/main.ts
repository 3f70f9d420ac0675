/**
 * The taskd command line: `serve`, `migrate`, the admin commands, the tasks client, snapshots and the
 * agent's commands.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Command from "effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Admin from "./Cli/Admin.ts"
import { agent } from "./Cli/Agent.ts"
import { exitCodeOfUsageError, teardown } from "./Cli/Output.ts"
import { migrateCommand, serve } from "./Cli/Serve.ts"
import * as Snapshots from "./Cli/Snapshots.ts"
import { tasks } from "./Cli/Tasks.ts"

const taskd = Command.make("taskd").pipe(
  Command.withDescription("A server for AI coding tasks and their conversation logs (the Coder Tasks API)."),
  Command.withSubcommands([
    serve,
    migrateCommand,
    Admin.users,
    Admin.tokens,
    Admin.templates,
    tasks,
    Snapshots.snapshots,
    agent
  ])
)

Command.run(taskd, { version: "0.1.0" }).pipe(
  Effect.tapError(exitCodeOfUsageError),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ teardown })
)
