/**
 * Commands that run inside a workspace, next to the agent. `taskd agent snapshot` is the TypeScript
 * counterpart of Coder's `agentapi-shutdown.sh` (spec §7.6): run it on stop, before agentapi exits.
 *
 * It exits 0 whatever happens to the snapshot (a failed snapshot must not fail the shutdown), and 1 only
 * when it is used wrongly: no CODER_AGENT_URL or CODER_AGENT_TOKEN for a task workspace.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { defaultAgentApiPort, uploadSnapshot } from "../AgentApi/Uploader.ts"

const snapshot = Command.make("snapshot", {
  agentUrl: Options.text("agent-url").pipe(
    Options.withDescription("The Coder deployment's URL (CODER_AGENT_URL)."),
    Options.withFallbackConfig(Config.string("CODER_AGENT_URL")),
    Options.optional
  ),
  agentToken: Options.redacted("agent-token").pipe(
    Options.withDescription("The workspace agent token (CODER_AGENT_TOKEN)."),
    Options.withFallbackConfig(Config.redacted("CODER_AGENT_TOKEN")),
    Options.optional
  ),
  taskId: Options.text("task-id").pipe(
    Options.withDescription("The task's id (CODER_TASK_ID); without one, nothing is uploaded."),
    Options.withFallbackConfig(Config.string("CODER_TASK_ID")),
    Options.withDefault("")
  ),
  agentApiPort: Options.integer("agentapi-port").pipe(
    Options.withDescription("agentapi's port on localhost (AGENTAPI_PORT)."),
    Options.withFallbackConfig(Config.integer("AGENTAPI_PORT")),
    Options.withDefault(defaultAgentApiPort)
  )
}, (options) =>
  Effect.gen(function*() {
    // The script's order: no task is a success before anything else is checked.
    if (options.taskId !== "") {
      const missing = [
        Option.isNone(options.agentUrl) ? "CODER_AGENT_URL" : undefined,
        Option.isNone(options.agentToken) ? "CODER_AGENT_TOKEN" : undefined
      ].filter((name) => name !== undefined)
      if (missing.length > 0) {
        yield* Console.error(`error: ${missing.join(" and ")} must be set (or --agent-url/--agent-token given).`)
        process.exitCode = 1
        return
      }
    }
    yield* uploadSnapshot({
      agentUrl: Option.getOrElse(options.agentUrl, () => ""),
      agentToken: Option.getOrElse(options.agentToken, () => ""),
      taskId: options.taskId,
      agentApiPort: options.agentApiPort
    }).pipe(Effect.provide(FetchHttpClient.layer))
  })).pipe(
    Command.withDescription(
      "Upload the last messages of the task's agentapi conversation as its log snapshot (run on workspace stop)."
    )
  )

export const agent = Command.make("agent").pipe(
  Command.withDescription("Commands that run in a task's workspace, beside the agent."),
  Command.withSubcommands([snapshot])
)
