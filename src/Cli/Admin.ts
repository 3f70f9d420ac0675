/**
 * Admin commands: they talk to a running taskd through the client derived from the HttpApi.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { type Client, makeClient } from "../Client.ts"

const connection = {
  url: Options.text("url").pipe(
    Options.withDescription("taskd's base URL (TASKD_URL)."),
    Options.withFallbackConfig(Config.string("TASKD_URL")),
    Options.withDefault("http://127.0.0.1:8080")
  ),
  token: Options.redacted("token").pipe(
    Options.withDescription("A session token (TASKD_TOKEN)."),
    Options.withFallbackConfig(Config.redacted("TASKD_TOKEN"))
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print the response as JSON."))
}

interface Connection {
  readonly url: string
  readonly token: Redacted.Redacted<string>
  readonly json: boolean
}

/** Runs `f` with a client, and turns a Coder error into one readable line and exit code 1. */
const withClient = <A>(
  options: Connection,
  f: (client: Client) => Effect.Effect<A, unknown>,
  show: (value: A) => string
) =>
  Effect.gen(function*() {
    const client = yield* makeClient({ baseUrl: options.url, token: options.token })
    const value = yield* f(client)
    yield* Console.log(options.json ? JSON.stringify(value, null, 2) : show(value))
  }).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.catchAll((error) =>
      Effect.flatMap(
        Console.error(describe(error)),
        () => Effect.sync(() => process.exitCode = 1)
      )
    )
  )

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error) {
    const detail = "detail" in error && typeof error.detail === "string" ? ` (${error.detail})` : ""
    const validations = "validations" in error && Array.isArray(error.validations)
      ? error.validations.map((v: { field: string; detail: string }) => `\n  ${v.field}: ${v.detail}`).join("")
      : ""
    return `error: ${String(error.message)}${detail}${validations}`
  }
  return `error: ${String(error)}`
}

const usersCreate = Command.make("create", {
  ...connection,
  username: Options.text("username"),
  email: Options.text("email"),
  role: Options.choice("role", ["owner", "member"]).pipe(Options.withDefault("member" as const)),
  organization: Options.text("organization").pipe(Options.optional)
}, (options) =>
  withClient(
    options,
    (client) =>
      client.users.create({
        payload: {
          username: options.username,
          email: options.email,
          role: options.role,
          ...Option.match(options.organization, { onNone: () => ({}), onSome: (organization) => ({ organization }) })
        }
      }),
    (user) => `Created ${user.roles.join(",")} ${user.username} (${user.id}).`
  )).pipe(Command.withDescription("Create a user (owners only)."))

const tokensCreate = Command.make("create", {
  ...connection,
  user: Args.text({ name: "user" }).pipe(Args.withDescription("me, a user id or a username"))
}, (options) =>
  withClient(
    options,
    (client) => client.users.createApiKey({ path: { user: options.user } }),
    (response) => response.key
  )).pipe(Command.withDescription("Create an API key for a user and print it."))

const templatesCreate = Command.make("create", {
  ...connection,
  name: Args.text({ name: "name" }),
  organization: Options.text("organization").pipe(Options.withDefault("default")),
  displayName: Options.text("display-name").pipe(Options.optional),
  icon: Options.text("icon").pipe(Options.optional),
  noAiTask: Options.boolean("no-ai-task").pipe(Options.withDescription("The template has no coder_ai_task.")),
  appUrl: Options.text("app-url").pipe(Options.optional, Options.withDescription("The task app's agentapi URL.")),
  agentCommand: Options.text("agent-command").pipe(
    Options.optional,
    Options.withDescription("A command to run as the workspace (local process provisioner).")
  )
}, (options) =>
  withClient(
    options,
    (client) =>
      client.templates.create({
        path: { organization: options.organization },
        payload: {
          name: options.name,
          has_ai_task: !options.noAiTask,
          ...Option.match(options.displayName, { onNone: () => ({}), onSome: (display_name) => ({ display_name }) }),
          ...Option.match(options.icon, { onNone: () => ({}), onSome: (icon) => ({ icon }) }),
          ...Option.match(options.appUrl, { onNone: () => ({}), onSome: (app_url) => ({ app_url }) }),
          ...Option.match(options.agentCommand, {
            onNone: () => ({}),
            onSome: (agent_command) => ({ agent_command })
          })
        }
      }),
    (template) => `Created template ${template.name} (${template.id}); active version ${template.active_version_id}.`
  )).pipe(Command.withDescription("Create a template with its first version (owners only)."))

export const users = Command.make("users").pipe(Command.withSubcommands([usersCreate]))
export const tokens = Command.make("tokens").pipe(Command.withSubcommands([tokensCreate]))
export const templates = Command.make("templates").pipe(Command.withSubcommands([templatesCreate]))
