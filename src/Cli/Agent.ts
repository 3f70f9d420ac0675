/**
 * Commands that run inside a workspace, next to the agent. `taskd agent snapshot` is the TypeScript
 * counterpart of Coder's `agentapi-shutdown.sh` (spec §7.6): run it on stop, before agentapi exits.
 *
 * It exits 0 whatever happens to the snapshot (a failed snapshot must not fail the shutdown), and 1 only
 * when it is used wrongly: no CODER_AGENT_URL or CODER_AGENT_TOKEN for a task workspace.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Option from "effect/Option"
import { defaultAgentApiPort, uploadSnapshot } from "../AgentApi/Uploader.ts"
import { setExitCode } from "./Output.ts"

const snapshot = Command.make(
  "snapshot",
  {
    agentUrl: Flag.String("agent-url").pipe(
      Flag.withDescription("The Coder deployment's URL (CODER_AGENT_URL)."),
      Flag.withFallbackConfig(Config.String("CODER_AGENT_URL")),
      Flag.optional
    ),
    agentToken: Flag.Redacted("agent-token").pipe(
      Flag.withDescription("The workspace agent token (CODER_AGENT_TOKEN)."),
      Flag.withFallbackConfig(Config.Redacted("CODER_AGENT_TOKEN")),
      Flag.optional
    ),
    taskId: Flag.String("task-id").pipe(
      Flag.withDescription("The task's id (CODER_TASK_ID); without one, nothing is uploaded."),
      Flag.withFallbackConfig(Config.String("CODER_TASK_ID")),
      Flag.withDefault("")
    ),
    agentApiPort: Flag.Int("agentapi-port").pipe(
      Flag.withDescription("agentapi's port on localhost (AGENTAPI_PORT)."),
      Flag.withFallbackConfig(Config.Int("AGENTAPI_PORT")),
      Flag.withDefault(defaultAgentApiPort)
    )
  },
  Effect.fn("taskd.agent.snapshot")(function*(options) {
    // The script's order: no task is a success before anything else is checked.
    if (options.taskId !== "") {
      const missing = [
        Option.isNone(options.agentUrl) ? "CODER_AGENT_URL" : undefined,
        Option.isNone(options.agentToken) ? "CODER_AGENT_TOKEN" : undefined
      ].filter((name) => name !== undefined)
      if (missing.length > 0) {
        yield* Console.error(`error: ${missing.join(" and ")} must be set (or --agent-url/--agent-token given).`)
        return yield* setExitCode(1)
      }
    }
    yield* uploadSnapshot({
      agentUrl: Option.getOrElse(options.agentUrl, () => ""),
      agentToken: Option.getOrElse(options.agentToken, () => ""),
      taskId: options.taskId,
      agentApiPort: options.agentApiPort
    }).pipe(Effect.provide(FetchHttpClient.layer))
  })
).pipe(
  Command.withDescription(
    "Upload the last messages of the task's agentapi conversation as its log snapshot (run on workspace stop)."
  )
)

export const agent = Command.make("agent").pipe(
  Command.withDescription("Commands that run in a task's workspace, beside the agent."),
  Command.withSubcommands([snapshot])
)
