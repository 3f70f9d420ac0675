/**
 * Admin commands: they talk to a running taskd through the client derived from the HttpApi (the
 * connection flags and the output are src/Cli/Connection.ts's). `users list` and `templates list` are
 * src/Cli/Tasks.ts's, beside the tasks commands that use them.
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Option from "effect/Option"
import { connection, withClient } from "./Connection.ts"
import { templatesList, usersList } from "./Tasks.ts"

/** `{ key: value }` when the option is set, `{}` when not (the payloads' optional fields are absent, not undefined). */
const field = <K extends string, A>(key: K, option: Option.Option<A>): { readonly [P in K]?: A } =>
  Option.match(option, { onNone: () => ({}), onSome: (value) => ({ [key]: value }) as { readonly [P in K]: A } })

const usersCreate = Command.make("create", {
  ...connection,
  username: Flag.String("username"),
  email: Flag.String("email"),
  role: Flag.Literals("role", ["owner", "member"]).pipe(Flag.withDefault("member" as const)),
  organization: Flag.String("organization").pipe(Flag.optional)
}, (options) =>
  withClient(
    options,
    (client) =>
      client.users.create({
        payload: {
          username: options.username,
          email: options.email,
          role: options.role,
          ...field("organization", options.organization)
        }
      }),
    (user) => `Created ${user.roles.join(",")} ${user.username} (${user.id}).`
  )).pipe(Command.withDescription("Create a user (owners only)."))

const tokensCreate = Command.make("create", {
  ...connection,
  user: Argument.String("user").pipe(Argument.withDescription("me, a user id or a username"))
}, (options) =>
  withClient(
    options,
    (client) => client.users.createApiKey({ params: { user: options.user } }),
    (response) => response.key
  )).pipe(Command.withDescription("Create an API key for a user and print it."))

const templatesCreate = Command.make("create", {
  ...connection,
  name: Argument.String("name"),
  organization: Flag.String("organization").pipe(Flag.withDefault("default")),
  displayName: Flag.String("display-name").pipe(Flag.optional),
  icon: Flag.String("icon").pipe(Flag.optional),
  noAiTask: Flag.Boolean("no-ai-task").pipe(
    Flag.withDescription("The template has no coder_ai_task."),
    Flag.withDefault(false)
  ),
  appUrl: Flag.String("app-url").pipe(Flag.withDescription("The task app's agentapi URL."), Flag.optional),
  agentCommand: Flag.String("agent-command").pipe(
    Flag.withDescription("A command to run as the workspace (local process provisioner)."),
    Flag.optional
  )
}, (options) =>
  withClient(
    options,
    (client) =>
      client.templates.create({
        params: { organization: options.organization },
        payload: {
          name: options.name,
          has_ai_task: !options.noAiTask,
          ...field("display_name", options.displayName),
          ...field("icon", options.icon),
          ...field("app_url", options.appUrl),
          ...field("agent_command", options.agentCommand)
        }
      }),
    (template) => `Created template ${template.name} (${template.id}); active version ${template.active_version_id}.`
  )).pipe(Command.withDescription("Create a template with its first version (owners only)."))

export const users = Command.make("users").pipe(
  Command.withDescription("Manage users."),
  Command.withSubcommands([usersCreate, usersList])
)
export const tokens = Command.make("tokens").pipe(
  Command.withDescription("Manage API keys."),
  Command.withSubcommands([tokensCreate])
)
export const templates = Command.make("templates").pipe(
  Command.withDescription("Manage templates."),
  Command.withSubcommands([templatesCreate, templatesList])
)
