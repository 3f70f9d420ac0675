/**
 * The tasks CLI end to end: `taskd serve` as a child process (the local process provisioner runs the demo
 * agent as each task's workspace), and every `taskd tasks|templates|users ...` command as a child process
 * of its own against it, as a person at a terminal runs them: tables by default, the API's JSON with
 * `--json`, exit code 1 and the server's message when it refuses, 2 for a command line that does not parse.
 * The test reads the server's own answers through the typed client to compare.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { type Client, makeClient } from "../src/Client.ts"
import type { TaskStatus } from "../src/Domain/Task.ts"
import { freshPostgresUrl, testDatabaseUrl } from "./support/Backends.ts"
import * as ChildServer from "./support/ChildServer.ts"
import { call } from "./support/ChildServer.ts"
import { pollUntil } from "./support/TaskFlow.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

interface Served {
  readonly url: string
  /** A member's API key, and their username. */
  readonly member: { readonly token: string; readonly username: string }
}

class CliServer extends Context.Service<CliServer, Served>()("test/TasksCliServer") {}

/** taskd serve on `env`'s database, with a member to act as. */
const serve = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const child = yield* ChildServer.start(env)
    const username = `member-${Date.now().toString(36)}`
    const user = yield* Effect.promise(() =>
      call(child.url, "POST", "/api/v2/users", { body: { username, email: "m@example.com" } })
    )
    assert.strictEqual(user.status, 201, user.text)
    const key = yield* Effect.promise(() => call(child.url, "POST", `/api/v2/users/${user.json.id}/keys`))
    assert.strictEqual(key.status, 201, key.text)
    return { url: child.url, member: { token: key.json.key as string, username } } satisfies Served
  })

const backends: ReadonlyArray<{ readonly name: string; readonly layer: Layer.Layer<CliServer> }> = [
  { name: "pglite", layer: Layer.effect(CliServer, serve({ TASKD_DATA_DIR: "memory://" })) },
  ...(testDatabaseUrl === undefined ? [] : [{
    name: "postgres",
    layer: Layer.effect(
      CliServer,
      Effect.flatMap(freshPostgresUrl(testDatabaseUrl), (url) => serve({ DATABASE_URL: url }))
    ).pipe(Layer.orDie)
  }])
]

interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

interface Running {
  /** What it printed on stdout so far. */
  readonly stdout: () => string
  readonly done: Promise<CliResult>
}

/**
 * `taskd <args>` started, with `env` and nothing inherited that taskd reads; killed after `killAfterMs` (a
 * minute by default) if it has not ended.
 */
const startTaskd = (args: ReadonlyArray<string>, env: Record<string, string> = {}, killAfterMs = 60_000): Running => {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
  for (const name of ["DATABASE_URL", "TASKD_URL", "TASKD_TOKEN", "TASKD_DATA_DIR"]) {
    if (!(name in env)) delete childEnv[name]
  }
  const child = spawn(process.execPath, ["src/main.ts", ...args], {
    cwd: root,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs)
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  )
  return { stdout: () => stdout, done }
}

/** `taskd <args>` to completion (killed after a minute). */
const taskd = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() => startTaskd(args, env).done)

/** A command as the admin, with the connection given as flags. */
const asAdmin = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(CliServer, (server) => taskd([...args, "--url", server.url, "--token", ChildServer.bootstrapToken]))

/** A command as the member, with the connection given in TASKD_URL and TASKD_TOKEN. */
const asMember = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(
    CliServer,
    (server) => taskd(args, { TASKD_URL: server.url, TASKD_TOKEN: server.member.token })
  )

const ok = (result: CliResult) => {
  assert.strictEqual(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`)
  assert.strictEqual(result.stderr, "")
  return result.stdout
}

/** The typed client against the child server, as `token` (the member by default). */
const clientOf = (token?: string) =>
  Effect.flatMap(CliServer, (server) => makeClient({ baseUrl: server.url, token: token ?? server.member.token }))

const api = <A, E>(f: (client: Client) => Effect.Effect<A, E>, token?: string) =>
  Effect.flatMap(clientOf(token), f).pipe(Effect.provide(FetchHttpClient.layer), Effect.orDie)

const waitForStatus = (task: string, status: TaskStatus) =>
  pollUntil(
    api((client) => client.tasks.get({ params: { user: "me", task } })),
    (found) => found.status === status,
    (last) => `task ${task} never became ${status}; last ${last?.status}`,
    120_000
  )

const waitForLogs = (task: string, count: number) =>
  pollUntil(
    api((client) => client.tasks.logs({ params: { user: "me", task } })).pipe(
      Effect.catchDefect(() => Effect.succeed({ logs: [] }))
    ),
    (logs) => logs.logs.length >= count,
    (last) => `task ${task} never had ${count} messages: ${JSON.stringify(last?.logs.length)}`,
    120_000
  )

/** The lines of a table whose first cell is `first`, split on runs of two or more spaces. */
const rowsStartingWith = (table: string, first: string) =>
  table.split("\n").map((line) => line.split(/ {2,}/)).filter((cells) => cells[0] === first)

for (const backend of backends) {
  describe(`taskd tasks|templates|users [${backend.name}]`, () => {
    layer(backend.layer, { timeout: 300_000 })((it) => {
      it.effect("templates create and list, users list: tables, --json, owners only", () =>
        Effect.gen(function*() {
          const server = yield* CliServer
          const created = JSON.parse(ok(
            yield* asAdmin("templates", "create", "demo", "--agent-command", "node scripts/demo-agent.ts", "--json")
          ))

          // A member sees it, in a table with a header...
          const listed = ok(yield* asMember("templates", "list"))
          const lines = listed.trimEnd().split("\n")
          assert.match(lines[0]!, /^NAME +DISPLAY NAME +ID +ACTIVE VERSION$/)
          assert.deepStrictEqual(rowsStartingWith(listed, "demo"), [["demo", created.id, created.active_version_id]])
          // ...and as the API's JSON, exactly what the server answers.
          const json = JSON.parse(ok(yield* asMember("templates", "list", "--json")))
          const raw = yield* Effect.promise(() =>
            call(server.url, "GET", "/api/v2/templates", { token: server.member.token })
          )
          assert.deepStrictEqual(json, raw.json)
          assert.deepStrictEqual(json.map((template: { name: string }) => template.name), ["demo"])

          // users list: the admin sees everyone...
          const users = ok(yield* asAdmin("users", "list"))
          assert.match(users.split("\n")[0]!, /^ID +USERNAME +EMAIL +ROLES +CREATED$/)
          assert.strictEqual(rowsStartingWith(users, "ID").length, 1)
          assert.match(
            users,
            new RegExp(`^${uuid}  admin +\\S+ +owner +\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}Z$`, "m")
          )
          assert.match(users, new RegExp(`^${uuid}  ${server.member.username} +m@example\\.com +member +\\d`, "m"))
          const usersJson = JSON.parse(ok(yield* asAdmin("users", "list", "--json")))
          assert.deepStrictEqual(Object.keys(usersJson), ["users", "count"])
          assert.strictEqual(usersJson.count, 2)
          assert.deepStrictEqual(usersJson.users.map((user: { username: string }) => user.username), [
            "admin",
            server.member.username
          ])
          // ...a member is refused, with the server's message.
          const refused = yield* asMember("users", "list")
          assert.strictEqual(refused.code, 1)
          assert.strictEqual(refused.stdout, "")
          assert.strictEqual(
            refused.stderr,
            "error: Forbidden. (You don't have permission to view this content. If you believe this is a mistake, " +
              "please contact your administrator or try signing in with different credentials.)\n"
          )
        }), { timeout: 600_000 })

      it.effect(
        "a task end to end: create by template name, list, show, logs, send, pause, refused send, resume, delete",
        () =>
          Effect.gen(function*() {
            const server = yield* CliServer
            const created = ok(yield* asMember("tasks", "create", "demo", "Build me a web app", "--name", "web-app"))
            const match = new RegExp(`^Created task web-app \\((${uuid})\\), status pending\\.\\n$`).exec(created)
            assert.isNotNull(match, created)
            const id = match![1]!
            const task = yield* api((client) => client.tasks.get({ params: { user: "me", task: id } }))
            const demo = (yield* api((client) => client.templates.list())).find((template) => template.name === "demo")
            assert.strictEqual(task.template_version_id, demo?.active_version_id)
            assert.strictEqual(task.initial_prompt, "Build me a web app")
            yield* waitForStatus(id, "active")
            yield* waitForLogs(id, 2)

            // list: a table row for the task; --json with --q is the API's list response.
            const table = ok(yield* asMember("tasks", "list"))
            assert.match(table.split("\n")[0]!, /^ID +NAME +OWNER +TEMPLATE +STATUS +STATE +CREATED$/)
            const [row] = rowsStartingWith(table, id)
            assert.deepStrictEqual(row?.slice(0, 5), [id, "web-app", server.member.username, "demo", "active"])
            const listJson = JSON.parse(ok(yield* asMember("tasks", "list", "--json", "--q", "status:active")))
            assert.deepStrictEqual(Object.keys(listJson), ["tasks", "count"])
            assert.strictEqual(listJson.count, 1)
            assert.strictEqual(listJson.tasks[0].id, id)
            const none = JSON.parse(ok(yield* asMember("tasks", "list", "--json", "--q", "status:paused")))
            assert.deepStrictEqual(none, { tasks: [], count: 0 })
            assert.strictEqual(ok(yield* asMember("tasks", "list", "--q", "status:paused")), "No tasks found.\n")

            // show, by name (the member's own) and by id, the flags before the argument.
            const shown = ok(yield* asMember("tasks", "show", "web-app"))
            assert.match(shown, new RegExp(`^ID: +${id}$`, "m"))
            assert.match(shown, /^Name: +web-app$/m)
            assert.match(shown, /^Status: +active$/m)
            assert.match(shown, /^Template: +demo \(version [0-9a-f-]{36}\)$/m)
            assert.match(shown, /^Prompt: +Build me a web app$/m)
            const shownJson = JSON.parse(
              ok(yield* taskd(["tasks", "show", "--json", "--url", server.url, "--token", server.member.token, id]))
            )
            assert.strictEqual(shownJson.id, id)
            assert.strictEqual(shownJson.name, "web-app")
            assert.match(shownJson.created_at, /Z$/)

            // logs: the live conversation as a table, and as the API's JSON.
            const logs = ok(yield* asMember("tasks", "logs", "web-app"))
            assert.match(logs.split("\n")[0]!, /^ID +TIME +TYPE +CONTENT$/)
            assert.deepStrictEqual(
              logs.trimEnd().split("\n").slice(1).map((line) => line.split(/ {2,}/).slice(2)),
              [["input", "Build me a web app"], ["output", "Done: Build me a web app"]]
            )
            const logsJson = JSON.parse(ok(yield* asMember("tasks", "logs", "web-app", "--json")))
            assert.deepStrictEqual(
              logsJson.logs.map((entry: { type: string; content: string }) => [entry.type, entry.content]),
              [["input", "Build me a web app"], ["output", "Done: Build me a web app"]]
            )
            assert.isUndefined(logsJson.snapshot)

            // send: the agent answers.
            assert.strictEqual(
              ok(yield* asMember("tasks", "send", "web-app", "Add a login page")),
              "Sent to web-app.\n"
            )
            const before = yield* waitForLogs(id, 4)
            assert.deepStrictEqual(before.logs.slice(2).map((entry) => entry.content), [
              "Add a login page",
              "Done: Add a login page"
            ])

            // pause: the stop build; the logs then come from the snapshot the agent uploaded.
            const paused = ok(yield* asMember("tasks", "pause", "web-app"))
            assert.match(paused, /^Pausing web-app: build #2 \(stop\), job (pending|running|succeeded)\.\n$/)
            yield* waitForStatus(id, "paused")
            const snapshot = ok(yield* asMember("tasks", "logs", id))
            assert.include(snapshot, "Done: Add a login page")
            assert.match(snapshot, /\n\(from the snapshot taken at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z\)\n$/)

            // send to a paused task: refused, exit 1, the server's message on stderr.
            const direct = yield* Effect.promise(() =>
              call(server.url, "POST", `/api/v2/tasks/me/${id}/send`, {
                token: server.member.token,
                body: { input: "more" }
              })
            )
            assert.strictEqual(direct.status, 409)
            const refused = yield* asMember("tasks", "send", "web-app", "more")
            assert.strictEqual(refused.code, 1)
            assert.strictEqual(refused.stdout, "")
            assert.strictEqual(refused.stderr, `error: ${direct.json.message} (${direct.json.detail})\n`)
            assert.strictEqual(refused.stderr, "error: Task is paused. (Resume the task to send messages.)\n")
            // Pausing again is refused too.
            const again = yield* asMember("tasks", "pause", "web-app")
            assert.strictEqual(again.code, 1)
            assert.strictEqual(again.stderr, "error: Task is already paused. (Resume the task to run it again.)\n")

            // resume, with the API's JSON.
            const resumed = JSON.parse(ok(yield* asMember("tasks", "resume", "web-app", "--json")))
            assert.strictEqual(resumed.workspace_build.transition, "start")
            assert.strictEqual(resumed.workspace_build.build_number, 3)
            assert.strictEqual(resumed.workspace_build.reason, "task_resume")
            yield* waitForStatus(id, "active")

            // delete, by the admin naming the member's task as <owner>/<name>.
            const deleted = ok(yield* asAdmin("tasks", "delete", `${server.member.username}/web-app`))
            assert.strictEqual(deleted, `Deleting ${server.member.username}/web-app.\n`)
            const gone = yield* pollUntil(
              asMember("tasks", "show", id),
              (result) => result.code === 1,
              (last) => `still there: ${JSON.stringify(last)}`,
              120_000
            )
            assert.strictEqual(gone.stdout, "")
            assert.strictEqual(gone.stderr, "error: Resource not found or you do not have access to this resource\n")
          }),
        { timeout: 600_000 }
      )

      it.effect(
        "tasks logs --follow: the history, each reply once whole, exit 0 when the task pauses; --json: the events",
        () =>
          Effect.gen(function*() {
            const server = yield* CliServer
            const member = { TASKD_URL: server.url, TASKD_TOKEN: server.member.token }
            // The first test's template, when this one runs alone.
            if (!(yield* api((client) => client.templates.list())).some((template) => template.name === "demo")) {
              ok(yield* asAdmin("templates", "create", "demo", "--agent-command", "node scripts/demo-agent.ts"))
            }
            const id: string = JSON.parse(
              ok(yield* asMember("tasks", "create", "demo", "Plan the work", "--name", "followed", "--json"))
            ).id
            yield* waitForStatus(id, "active")

            // Two followers of the running task, as text and as JSON.
            const text = startTaskd(["tasks", "logs", "followed", "--follow"], member, 300_000)
            const json = startTaskd(["tasks", "logs", "-f", "--json", id], member, 300_000)
            const printed = (follower: Running, content: string) =>
              pollUntil(
                Effect.sync(follower.stdout),
                (stdout) => stdout.includes(content),
                (stdout) => `never printed ${JSON.stringify(content)}; printed:\n${stdout}`,
                120_000
              )
            yield* printed(text, "Done: Plan the work")
            yield* printed(json, "Done: Plan the work")
            assert.strictEqual(
              ok(yield* asMember("tasks", "send", "followed", "Write the tests")),
              "Sent to followed.\n"
            )
            yield* printed(text, "Done: Write the tests")
            yield* printed(json, "Done: Write the tests")

            // Pausing ends both.
            ok(yield* asMember("tasks", "pause", "followed"))
            const [followed, events] = yield* Effect.promise(() => Promise.all([text.done, json.done]))

            // Each message once, whole (the demo agent's reply grows in three updates of one id), then why
            // following ended.
            const conversation = [
              ["1", "input", "Plan the work"],
              ["2", "output", "Done: Plan the work"],
              ["3", "input", "Write the tests"],
              ["4", "output", "Done: Write the tests"]
            ]
            const lines = ok(followed).trimEnd().split("\n")
            assert.deepStrictEqual(
              lines.slice(0, -1).map((line) => {
                const cells = /^(\d+) {2}\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z {2}(input |output) {2}(.*)$/.exec(line)
                return cells === null ? [line] : [cells[1], cells[2]!.trim(), cells[3]]
              }),
              conversation
            )
            assert.strictEqual(lines.at(-1), "(the task is paused)")

            // --json: one event per line, ids growing, first the task, last the task paused; each message's
            // last version is what /messages answers.
            const raw = yield* Effect.promise(() =>
              call(server.url, "GET", `/api/v2/tasks/me/${id}/messages`, { token: server.member.token })
            )
            assert.strictEqual(raw.status, 200, raw.text)
            const lastVersions = (stdout: string) => {
              const parsed = stdout.trimEnd().split("\n").map((line) => JSON.parse(line))
              const messages = new Map<number, unknown>()
              for (const event of parsed) if (event.event === "message") messages.set(event.data.id, event.data)
              return { events: parsed, messages: [...messages.values()] }
            }
            const live = lastVersions(ok(events))
            assert.deepStrictEqual(live.messages, raw.json.messages)
            assert.deepStrictEqual(live.events[0].event, "task")
            assert.deepStrictEqual([live.events.at(-1).event, live.events.at(-1).data.status], ["task", "paused"])
            const ids = live.events.map((event: { id: string }) => Number(event.id))
            assert.deepStrictEqual(ids, [...ids].sort((a, b) => a - b))
            assert.isTrue(live.events.some((event: { event: string }) => event.event === "agent"))

            // Following a task that is paused already: its history, and the same end.
            assert.strictEqual(ok(yield* asMember("tasks", "logs", "followed", "--follow")), followed.stdout)
            const stopped = lastVersions(ok(yield* asMember("tasks", "logs", id, "--follow", "--json")))
            assert.deepStrictEqual([stopped.events[0].event, stopped.events[0].data.status], ["task", "paused"])
            assert.deepStrictEqual(stopped.messages, raw.json.messages)
            assert.strictEqual(stopped.events.at(-1).data.id, 4)

            // A task the member cannot see: refused, exit 1.
            const refused = yield* asMember("tasks", "logs", "no-such-task", "--follow")
            assert.deepStrictEqual(refused, {
              code: 1,
              stdout: "",
              stderr: "error: Resource not found or you do not have access to this resource\n"
            })
          }),
        { timeout: 600_000 }
      )

      it.effect(
        "usage errors exit 2; a bad token and an unknown template exit 1 with one line",
        () =>
          Effect.gen(function*() {
            const server = yield* CliServer
            for (
              const args of [
                ["tasks", "show"],
                ["tasks", "frobnicate"],
                ["tasks", "list", "--bogus"],
                ["tasks", "create", "demo"],
                ["tasks"]
              ]
            ) {
              const result = yield* asMember(...args)
              assert.strictEqual(result.code, 2, `${args.join(" ")}: ${result.stderr}`)
            }
            // Without a token anywhere: a usage error too.
            const noToken = yield* taskd(["tasks", "list", "--url", server.url])
            assert.strictEqual(noToken.code, 2)
            assert.include(noToken.stderr, "--token")

            const signedOut = yield* taskd([
              "tasks",
              "list",
              "--url",
              server.url,
              "--token",
              "abcdefghij-abcdefghijklmnopqrstuv"
            ])
            assert.strictEqual(signedOut.code, 1)
            assert.strictEqual(signedOut.stdout, "")
            assert.strictEqual(
              signedOut.stderr,
              "error: You are signed out or your session has expired. Please sign in again to continue. " +
                "(API key is invalid.)\n"
            )

            const unknown = yield* asMember("tasks", "create", "no-such-template", "hello")
            assert.strictEqual(unknown.code, 1)
            assert.strictEqual(
              unknown.stderr,
              `error: Template "no-such-template" not found (taskd templates list shows the ones you can use).\n`
            )
            // A <task> with an empty part names no task: a usage error, before any request.
            for (const ref of ["", "me/", "/web-app"]) {
              const empty = yield* asMember("tasks", "show", ref)
              assert.strictEqual(empty.code, 2, ref)
              assert.include(
                empty.stderr,
                `Invalid value for argument <task>: ${JSON.stringify(ref)}. ` +
                  "Expected a task id, a task name or <owner>/<name>"
              )
            }
          }),
        { timeout: 600_000 }
      )
    })
  })
}
