/**
 * `taskd tasks ...`: what Coder's `coder tasks` commands do, against a running taskd through the typed
 * client (src/Cli/Connection.ts: `--url`/`--token` or TASKD_URL/TASKD_TOKEN, `--json`, exit codes 0/1/2).
 * Also `users list` and `templates list`, which src/Cli/Admin.ts adds to its command groups.
 *
 * A `<task>` argument is what the API's `{user}/{task}` path takes: a task id, a task name among the
 * signed-in user's own tasks, or `<owner>/<name>` for another user's task (an owner's view). Without a
 * slash the user is `me`, and an id finds the task whoever owns it.
 *
 * The default output is a plain-text table (src/Cli/Table.ts); `--json` prints the API's answer as the
 * server wrote it (re-encoded with the endpoint's schema: Go's times, int64 ids with all their digits).
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type Client, type FollowedEvent, followTask } from "../Client.ts"
import {
  type AgentStatus,
  type ConversationMessage,
  maxMessagesLimit,
  TaskStreamEvent
} from "../Domain/Conversation.ts"
import {
  Task,
  TaskLogsResponse,
  TasksListResponse,
  type TaskStatus,
  type WorkspaceBuild,
  WorkspaceBuildResponse
} from "../Domain/Task.ts"
import { Template } from "../Domain/Template.ts"
import { GetUsersResponse } from "../Domain/User.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { connection, withClient } from "./Connection.ts"
import { details, shortTime, table } from "./Table.ts"

/** A refusal the CLI itself makes (no template of that name), reported like the server's. */
export class CliRefusal extends Data.TaggedError("CliRefusal")<{ readonly message: string }> {}

export interface TaskPath {
  readonly user: string
  readonly task: string
}

/** The API's `{user}/{task}` for a `<task>` argument: `owner/name` as it is, anything else under `me`. */
export const taskPath = (ref: string): TaskPath => {
  const slash = ref.indexOf("/")
  return slash === -1 ? { user: "me", task: ref } : { user: ref.slice(0, slash), task: ref.slice(slash + 1) }
}

const taskArgument = Argument.String("task").pipe(
  Argument.withDescription("A task id, the name of one of your tasks, or <owner>/<name>."),
  // An empty part names no route of the API: a usage error, not a request.
  Argument.filter(
    (ref) => Object.values(taskPath(ref)).every((part) => part !== ""),
    () => "Expected a task id, a task name or <owner>/<name>"
  )
)

const encodeTask = Schema.encodeSync(Task)
const encodeTaskList = Schema.encodeSync(TasksListResponse)
const encodeLogs = Schema.encodeSync(TaskLogsResponse)
const encodeBuild = Schema.encodeSync(WorkspaceBuildResponse)
const encodeUsers = Schema.encodeSync(GetUsersResponse)
const encodeTemplates = Schema.encodeSync(Schema.Array(Template))

/** The task's state as its app last reported it: `working: <message>`, or `-`. */
const stateOf = (task: Task): string =>
  task.current_state === null
    ? "-"
    : task.current_state.message === ""
    ? task.current_state.state
    : `${task.current_state.state}: ${task.current_state.message}`

const taskTable = (tasks: ReadonlyArray<Task>): string =>
  tasks.length === 0 ? "No tasks found." : table(
    ["ID", "NAME", "OWNER", "TEMPLATE", "STATUS", "STATE", "CREATED"],
    tasks.map((task) => [
      task.id,
      task.name,
      task.owner_name,
      task.template_name,
      task.status,
      // One line per task: a multi-line message belongs to `tasks show`.
      stateOf(task).split("\n")[0]!,
      shortTime(task.created_at)
    ])
  )

const taskDetails = (task: Task): string => {
  const workspace = task.workspace_id === null ? "-" : [
    task.workspace_name,
    task.workspace_status === undefined ? "" : ` (${task.workspace_status}`,
    task.workspace_build_number === undefined ? "" : `, build #${task.workspace_build_number}`,
    task.workspace_status === undefined ? "" : ")"
  ].join("")
  const health = task.workspace_agent_health
  const agent = task.workspace_agent_lifecycle === null ? "-" : [
    task.workspace_agent_lifecycle,
    health === null ? "" : health.healthy ? ", healthy" : `, unhealthy${health.reason ? ` (${health.reason})` : ""}`
  ].join("")
  return details([
    ["ID", task.id],
    ["Name", task.name],
    ...(task.display_name !== "" && task.display_name !== task.name
      ? [["Display name", task.display_name] as const]
      : []),
    ["Owner", task.owner_name],
    ["Template", `${task.template_name} (version ${task.template_version_id})`],
    ["Status", task.status],
    ["State", stateOf(task)],
    ["Workspace", workspace],
    ["Agent", agent],
    ["Prompt", task.initial_prompt],
    ["Created", shortTime(task.created_at)],
    ["Updated", shortTime(task.updated_at)]
  ])
}

const buildLine = (verb: string, ref: string, build: WorkspaceBuild) =>
  `${verb} ${ref}: build #${build.build_number} (${build.transition}), job ${build.job_status}.`

const list = Command.make("list", {
  ...connection,
  q: Flag.String("q").pipe(
    Flag.withDescription(
      "A search query: owner:<username|me>, organization:<name|id>, status:<status>, or a bare word (the owner)."
    ),
    Flag.optional
  )
}, (options) =>
  withClient(
    options,
    (client) => client.tasks.list({ query: Option.match(options.q, { onNone: () => ({}), onSome: (q) => ({ q }) }) }),
    (response) => taskTable(response.tasks),
    encodeTaskList
  )).pipe(Command.withDescription("List the tasks you can see (an owner: everyone's), newest first."))

/**
 * A template named on the command line (its name, case-insensitively, or its id) among the templates the
 * caller may use, as `tasks create` needs it: Coder's CreateTaskRequest takes the active version's id.
 */
export const findTemplate = (client: Client, nameOrId: string) =>
  Effect.gen(function*() {
    const templates = yield* client.templates.list()
    const id = parseUuid(nameOrId)
    const byId = Result.isSuccess(id) ? templates.find((template) => template.id === id.success) : undefined
    if (byId !== undefined) return byId
    const byName = templates.filter((template) => template.name.toLowerCase() === nameOrId.toLowerCase())
    if (byName.length === 1) return byName[0]!
    return yield* new CliRefusal({
      message: byName.length === 0
        ? `Template ${JSON.stringify(nameOrId)} not found (taskd templates list shows the ones you can use).`
        : `Several organizations have a template ${JSON.stringify(nameOrId)}: give its id (${
          byName.map((template) => template.id).join(", ")
        }).`
    })
  })

const create = Command.make("create", {
  ...connection,
  template: Argument.String("template").pipe(Argument.withDescription("The template's name (or id).")),
  prompt: Argument.String("prompt").pipe(Argument.withDescription("What the agent should do.")),
  name: Flag.String("name").pipe(
    Flag.withDescription("The task's name (default: one made from the prompt)."),
    Flag.optional
  ),
  owner: Flag.String("owner").pipe(
    Flag.withDescription("Whose task it is: me, a username or a user id (owners may create others' tasks)."),
    Flag.withDefault("me")
  )
}, (options) =>
  withClient(
    options,
    (client) =>
      Effect.gen(function*() {
        const template = yield* findTemplate(client, options.template)
        return yield* client.tasks.create({
          params: { user: options.owner },
          payload: {
            template_version_id: template.active_version_id,
            input: options.prompt,
            ...Option.match(options.name, { onNone: () => ({}), onSome: (name) => ({ name }) })
          }
        })
      }),
    (task) => `Created task ${task.name} (${task.id}), status ${task.status}.`,
    encodeTask
  )).pipe(Command.withDescription("Create a task from a template's active version, with its first prompt."))

const show = Command.make("show", { ...connection, task: taskArgument }, (options) =>
  withClient(
    options,
    (client) => client.tasks.get({ params: taskPath(options.task) }),
    taskDetails,
    encodeTask
  )).pipe(Command.withDescription("Show a task: its status, state, workspace and prompt."))

/**
 * Reads the task's conversation once and renders it: what `tasks logs` does. The live answer comes from
 * the task's agent; a paused task's from the snapshot its agent uploaded when it stopped (said below the
 * table). `--follow` reads the task's event stream instead (`followLogs`).
 */
export const readLogs = (client: Client, path: TaskPath) => client.tasks.logs({ params: path })

/** A message's time to the second, like the other tables' (`--json` keeps the agent's own precision). */
const timeOfEntry = (time: string): string => {
  const date = new Date(time)
  return Number.isNaN(date.getTime()) ? time : shortTime(date)
}

const logsTable = (response: TaskLogsResponse): string => {
  const rows = response.logs.length === 0 ? "No messages yet." : table(
    ["ID", "TIME", "TYPE", "CONTENT"],
    response.logs.map((entry) => [String(entry.id), timeOfEntry(entry.time), entry.type, entry.content])
  )
  return response.snapshot === true
    ? `${rows}\n(from the snapshot taken ${
      response.snapshot_at === undefined ? "when the task stopped" : `at ${shortTime(response.snapshot_at)}`
    })`
    : rows
}

/** Statuses in which a task's agent does not run: following the task ends there. */
const isStopped = (status: TaskStatus) => status === "paused" || status === "error"

/**
 * The id of the last message of the task's recorded history (0 for none), paging `/messages` to its end:
 * where the history of a task that is not running ends on its event stream, which has no end marker.
 */
const lastMessageId = (client: Client, path: TaskPath) =>
  Effect.gen(function*() {
    let last = 0
    while (true) {
      const page = yield* client.conversations.messages({
        params: path,
        query: { after_id: String(last), limit: String(maxMessagesLimit) }
      })
      last = page.messages.at(-1)?.id ?? last
      if (page.next_after_id === undefined) return last
    }
  })

/** A message as `--follow` prints it: the table's columns without a header, further lines under the first. */
const messageLines = (message: ConversationMessage): string => {
  const prefix = `${message.id}  ${timeOfEntry(message.time)}  ${message.type.padEnd("output".length)}  `
  const [first, ...rest] = message.content.replace(/\r\n?/g, "\n").split("\n")
  return [prefix + first, ...rest.map((line) => " ".repeat(prefix.length) + line)]
    .map((line) => line.trimEnd())
    .join("\n")
}

const encodeEvent = Schema.encodeSync(TaskStreamEvent)

/** An event as one line of JSON: `{"id","event","data"}`, its data as the server wrote it. */
const eventLine = (event: FollowedEvent): string => {
  const { data, ...rest } = encodeEvent(event)
  return JSON.stringify({ ...rest, data: JSON.parse(data) })
}

/**
 * `tasks logs --follow`: the task's event stream (followTask, which resumes after drops) printed until
 * the task stops: a `task` event with status paused or error, or its deletion. With `json`, every event
 * as a line of JSON; otherwise the messages, each once it is final, so that a reply the agent is still
 * writing (re-sent with the same id at each change) is not printed over and over: an output message is
 * held while the agent is running, and printed when the next message appears, when the agent becomes
 * stable, or when following ends. Input, and output while the agent is stable, are printed at once; a
 * message that changes after it was printed is printed again. The last line says why following ended.
 *
 * The stream's first event is the task, then its history: when the task is not running already, following
 * ends after its history's last message (`lastMessageId`) instead, unless it is resumed meanwhile.
 */
export const followLogs = (client: Client, path: TaskPath, json: boolean) =>
  Effect.gen(function*() {
    let first = true
    /** A stopped task's last message: following ends when it is printed. */
    let historyEnd: number | undefined
    let agent: AgentStatus | undefined
    let held: ConversationMessage | undefined
    let printedUpTo = 0
    let ending = "(the task is gone)"

    const print = (message: ConversationMessage) => {
      printedUpTo = Math.max(printedUpTo, message.id)
      return json ? Effect.void : Console.log(messageLines(message))
    }
    const release = Effect.suspend(() => {
      const message = held
      held = undefined
      return message === undefined ? Effect.void : print(message)
    })

    const onMessage = (message: ConversationMessage) =>
      Effect.gen(function*() {
        if (held !== undefined && message.id > held.id) yield* release
        const final = message.type === "input" || agent === "stable" || message.id <= printedUpTo ||
          (held !== undefined && message.id < held.id)
        if (final) {
          if (held?.id === message.id) held = undefined
          yield* print(message)
        } else {
          held = message
        }
        return historyEnd === undefined || message.id < historyEnd
      })

    const onTask = (task: Task, isFirst: boolean) =>
      Effect.gen(function*() {
        if (!isStopped(task.status)) {
          historyEnd = undefined
          return true
        }
        ending = `(the task is ${task.status})`
        if (!isFirst) return false
        historyEnd = yield* lastMessageId(client, path)
        return historyEnd > 0
      })

    yield* Stream.runForEachWhile(followTask(client, path), (event) =>
      Effect.gen(function*() {
        if (json) yield* Console.log(eventLine(event))
        const isFirst = first
        first = false
        switch (event.event) {
          case "message":
            return yield* onMessage(event.data)
          case "agent":
            agent = event.data.status
            if (agent === "stable") yield* release
            return true
          case "task":
            return yield* onTask(event.data, isFirst)
          case "task_deleted":
            ending = "(the task was deleted)"
            return false
          case "queue":
            return true
        }
      }))
    yield* release
    if (!json) yield* Console.log(ending)
  })

const logs = Command.make(
  "logs",
  {
    ...connection,
    task: taskArgument,
    follow: Flag.Boolean("follow").pipe(
      Flag.withAlias("f"),
      Flag.withDescription("Keep printing the conversation as it grows, until the task stops."),
      Flag.withDefault(false)
    )
  },
  (options) => {
    const path = taskPath(options.task)
    // followLogs prints as it goes: nothing is left to print when it ends.
    return options.follow
      ? withClient(options, (client) => followLogs(client, path, options.json), () => "", () => undefined)
      : withClient(options, (client) => readLogs(client, path), logsTable, encodeLogs)
  }
).pipe(
  Command.withDescription(
    "Print a task's conversation with its agent. With --follow, print its history, then each new message, and " +
      "exit when the task stops (paused, error or deleted). A reply the agent is still writing is printed once " +
      "it is final: when the next message appears, when the agent waits for input, or when the task stops; a " +
      "message that changes after it was printed is printed again. With --json, --follow prints the task's " +
      "events (`GET .../events`: task, message, agent, queue, task_deleted), one JSON object per line."
  )
)

const send = Command.make("send", {
  ...connection,
  task: taskArgument,
  input: Argument.String("input").pipe(Argument.withDescription("The message to send to the task's agent."))
}, (options) =>
  withClient(
    options,
    (client) => client.tasks.send({ params: taskPath(options.task), payload: { input: options.input } }),
    () => `Sent to ${options.task}.`,
    // 204: no body to print.
    () => undefined
  )).pipe(Command.withDescription("Send input to an active task's agent."))

const pause = Command.make("pause", { ...connection, task: taskArgument }, (options) =>
  withClient(
    options,
    (client) => client.tasks.pause({ params: taskPath(options.task) }),
    (response) => buildLine("Pausing", options.task, response.workspace_build),
    encodeBuild
  )).pipe(Command.withDescription("Pause a task: stop its workspace (its conversation stays readable)."))

const resume = Command.make("resume", { ...connection, task: taskArgument }, (options) =>
  withClient(
    options,
    (client) => client.tasks.resume({ params: taskPath(options.task) }),
    (response) => buildLine("Resuming", options.task, response.workspace_build),
    encodeBuild
  )).pipe(Command.withDescription("Resume a paused task: start its workspace again."))

const remove = Command.make("delete", { ...connection, task: taskArgument }, (options) =>
  withClient(
    options,
    (client) => client.tasks.delete({ params: taskPath(options.task) }),
    () => `Deleting ${options.task}.`,
    // 202: no body to print.
    () => undefined
  )).pipe(Command.withDescription("Delete a task and its workspace."))

export const tasks = Command.make("tasks").pipe(
  Command.withDescription("Create, read, talk to, pause, resume and delete tasks on a running taskd."),
  Command.withSubcommands([list, create, show, logs, send, pause, resume, remove])
)

export const usersList = Command.make("list", { ...connection }, (options) =>
  withClient(
    options,
    (client) => client.users.list(),
    (response) =>
      table(
        ["ID", "USERNAME", "EMAIL", "ROLES", "CREATED"],
        response.users.map((
          user
        ) => [user.id, user.username, user.email, user.roles.join(","), shortTime(user.created_at)])
      ),
    encodeUsers
  )).pipe(Command.withDescription("List users (owners only)."))

const templateRows = (templates: ReadonlyArray<Template>) =>
  templates.length === 0 ? "No templates found." : table(
    ["NAME", "DISPLAY NAME", "ID", "ACTIVE VERSION"],
    templates.map((template) => [template.name, template.display_name, template.id, template.active_version_id])
  )

export const templatesList = Command.make(
  "list",
  { ...connection },
  (options) => withClient(options, (client) => client.templates.list(), templateRows, encodeTemplates)
).pipe(
  Command.withDescription("List the templates you can create tasks from (an owner: all of them).")
)
