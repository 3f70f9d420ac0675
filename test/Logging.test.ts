/**
 * Logs and plain output (issue 14 §3): `taskd serve` writes one JSON object a line when its stdout is not a
 * terminal (or with `--log-format json`), with time, level, message and the request, task and workspace
 * ids where they apply, and no token, query string or prompt; `--log-format pretty` writes Effect's pretty
 * lines, without colour on a pipe; `taskd --help` on a pipe is plain text. Child processes, as a user
 * runs them; and the JSON logger in-process, for the ids it finds in a request's context.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { TestConsole } from "effect/testing"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { CurrentAgent } from "../src/Domain/Actor.ts"
import { CurrentTask, type TaskRow } from "../src/Domain/Task.ts"
import * as Logging from "../src/Observability/Logging.ts"
import * as ChildServer from "./support/ChildServer.ts"
import { send, sendJson } from "./support/Http.ts"
import { sleepLive } from "./support/Net.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const token = ChildServer.bootstrapToken
const tokenSecret = token.slice(token.indexOf("-") + 1)
const prompt = "Quietly rename the Zanzibar ledger"
const escape = "\u001b"

/**
 * Runs `taskd <args>` with stdout and stderr piped, to completion (killed after a minute). FORCE_COLOR
 * (which a developer's or CI's environment may set) would ask for colour on a pipe; it is cleared.
 */
const taskd = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["src/main.ts", ...args], {
        cwd: root,
        env: { ...process.env, FORCE_COLOR: "", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
      child.on("close", (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })
  )

/**
 * What `taskd serve` prints that is not a log line: announcements for the person who started it (the web
 * console's address; the admin token of a first start, not printed here as TASKD_BOOTSTRAP_TOKEN is set).
 */
const announcement = /^Web console: http:\/\/\S+$/

/** The output's log lines, each parsed as JSON (the assertion names a line that is not). */
const jsonLines = (output: string): ReadonlyArray<Record<string, unknown>> =>
  output.split("\n").filter((line) => line !== "" && !announcement.test(line)).map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      return assert.fail(`not a JSON line: ${line}`)
    }
  })

/** Polls (real time, at most 20 s) until a JSON line of the child's output satisfies `find`. */
const waitForLine = (child: ChildServer.Child, what: string, find: (line: Record<string, unknown>) => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const found = jsonLines(child.output()).find(find)
      if (found !== undefined) return found
      yield* sleepLive(100)
    }
    return yield* Effect.die(new Error(`no log line for ${what} in:\n${child.output()}`))
  })

describe("plain CLI output", () => {
  // effect/cli colours help and errors only when TerminalCapabilities says so: stdout a terminal, NO_COLOR
  // unset, TERM not dumb (or FORCE_COLOR). The pretty logger asks the same (src/Observability/Logging.ts).
  it.live("taskd --help and taskd serve --help on a pipe have no escape codes", () =>
    Effect.gen(function*() {
      const help = yield* taskd(["--help"])
      assert.strictEqual(help.code, 0, help.stderr)
      assert.include(help.stdout, "SUBCOMMANDS")
      assert.notInclude(help.stdout, escape)
      const serve = yield* taskd(["serve", "--help"], { NO_COLOR: "1" })
      assert.include(serve.stdout, "--log-format")
      assert.notInclude(serve.stdout, escape)
      const wrong = yield* taskd(["--no-such-flag"])
      assert.notStrictEqual(wrong.code, 0)
      assert.notInclude(wrong.stdout + wrong.stderr, escape)
    }), 90_000)
})

describe("taskd serve logs", () => {
  it.live(
    "on a pipe: JSON lines with time, level and message, request, task and workspace ids, and no secrets",
    () =>
      Effect.gen(function*() {
        const child = yield* ChildServer.start({ TASKD_DATA_DIR: "memory://" }, ["--log-level", "debug"])
        const base = child.url

        // The token in the query string, and a request id from a proxy.
        const me = yield* Effect.promise(() =>
          send(base, "GET", `/api/v2/users/me?coder_session_token=${token}`, {
            headers: { "x-request-id": "proxy-req-42" }
          })
        )
        assert.strictEqual(me.status, 200, me.text)
        const request = yield* waitForLine(child, "GET /api/v2/users/me", (line) => line.path === "/api/v2/users/me")
        assert.strictEqual(request.message, "request")
        assert.strictEqual(request.level, "DEBUG")
        assert.strictEqual(request.request_id, "proxy-req-42")
        assert.strictEqual(request.method, "GET")
        assert.strictEqual(request.status, 200)

        // A task whose workspace prints a line and exits: its lines carry the task's and workspace's ids.
        const template = yield* Effect.promise(() =>
          sendJson(base, "POST", "/api/v2/organizations/default/templates", token, {
            name: "echo",
            agent_command: "echo workspace-says-hello"
          })
        )
        assert.strictEqual(template.status, 201, template.text)
        const created = yield* Effect.promise(() =>
          sendJson(base, "POST", "/api/v2/tasks/me", token, {
            template_version_id: template.json.active_version_id,
            input: prompt
          })
        )
        assert.strictEqual(created.status, 201, created.text)
        const taskId: string = created.json.id
        const workspaceId: string = created.json.workspace_id
        const said = yield* waitForLine(child, "the workspace's output", (line) =>
          line.message === "workspace-says-hello")
        assert.strictEqual(said.level, "INFO")
        assert.strictEqual(said.task_id, taskId)
        assert.strictEqual(said.workspace_id, workspaceId)
        assert.strictEqual(said.stream, "stdout")

        const got = yield* Effect.promise(() =>
          send(base, "GET", `/api/v2/tasks/me/${taskId}`, { token })
        )
        assert.strictEqual(got.status, 200, got.text)
        const requestIds = new Set<unknown>()
        yield* waitForLine(child, "GET /api/v2/tasks/me/{task}", (line) => line.path === `/api/v2/tasks/me/${taskId}`)

        for (const line of jsonLines(child.output())) {
          assert.isString(line.message, JSON.stringify(line))
          assert.include(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], line.level, JSON.stringify(line))
          assert.isString(line.time)
          assert.strictEqual(new Date(line.time as string).toISOString(), line.time)
          if (line.message === "request") {
            assert.isString(line.request_id)
            requestIds.add(line.request_id)
          }
        }
        // A request id per request (the health checks and the calls above).
        assert.isAbove(requestIds.size, 2)
        for (const secret of [token, tokenSecret, "coder_session_token", prompt]) {
          assert.notInclude(child.output(), secret)
        }
      }),
    120_000
  )

  it.live("--log-format pretty: Effect's pretty lines, without colour on a pipe", () =>
    Effect.gen(function*() {
      const child = yield* ChildServer.start({ TASKD_DATA_DIR: "memory://", FORCE_COLOR: "" }, [
        "--log-format",
        "pretty"
      ])
      const deadline = Date.now() + 20_000
      while (!child.output().includes("Listening on") && Date.now() < deadline) yield* sleepLive(100)
      assert.match(child.output(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(#\d+\): Listening on http:\/\/127\.0\.0\.1:\d+$/m)
      assert.notInclude(child.output(), escape)
      assert.notInclude(child.output(), `"level"`)
    }), 90_000)
})

describe("the JSON logger", () => {
  const task = { id: "11111111-1111-4111-8111-111111111111", workspace_id: "22222222-2222-4222-8222-222222222222" }

  /** The JSON line `effect` logs, written by Logging.json to a test console. */
  const logged = <E>(effect: Effect.Effect<void, E>) =>
    Effect.gen(function*() {
      yield* effect.pipe(Effect.provide(Logger.layer([Logging.json])))
      const lines = yield* TestConsole.logLines
      return JSON.parse(String(lines.at(-1))) as Record<string, unknown>
    }).pipe(Effect.provide(TestConsole.layer))

  it.effect("time, level and message; annotations and the cause; debug only when enabled", () =>
    Effect.gen(function*() {
      const line = yield* logged(
        Effect.logWarning("could not stop", Cause.die(new Error("boom"))).pipe(Effect.annotateLogs({ job_id: "j1" }))
      )
      assert.deepStrictEqual(Object.keys(line).slice(0, 3), ["time", "level", "message"])
      assert.strictEqual(line.level, "WARN")
      assert.strictEqual(line.message, "could not stop")
      assert.strictEqual(line.job_id, "j1")
      assert.include(String(line.cause), "boom")
      const debug = yield* logged(
        Effect.logDebug("details").pipe(Effect.provideService(References.MinimumLogLevel, "Debug"))
      )
      assert.strictEqual(debug.level, "DEBUG")
    }))

  it.effect("a request's id, and the task and workspace of its path or agent", () =>
    Effect.gen(function*() {
      const request = HttpServerRequest.fromWeb(new Request("http://taskd/api/v2/tasks/me/x?coder_session_token=t"))
      const inRequest = Effect.provideService(HttpServerRequest.HttpServerRequest, request)
      const first = yield* logged(inRequest(Effect.log("one")))
      const second = yield* logged(inRequest(Effect.log("two")))
      assert.match(String(first.request_id), /^[0-9a-f-]{36}$/)
      assert.strictEqual(second.request_id, first.request_id)
      const other = yield* logged(
        Effect.log("three").pipe(
          Effect.provideService(
            HttpServerRequest.HttpServerRequest,
            HttpServerRequest.fromWeb(new Request("http://t/"))
          )
        )
      )
      assert.notStrictEqual(other.request_id, first.request_id)

      const withTask = yield* logged(
        inRequest(Effect.log("task").pipe(Effect.provideService(CurrentTask, task as unknown as TaskRow)))
      )
      assert.strictEqual(withTask.task_id, task.id)
      assert.strictEqual(withTask.workspace_id, task.workspace_id)
      const withAgent = yield* logged(
        Effect.log("agent").pipe(
          Effect.provideService(CurrentAgent, { agentId: "a", workspaceId: "w1", ownerId: "o", buildId: "b" })
        )
      )
      assert.strictEqual(withAgent.workspace_id, "w1")
      // Annotations win over the context's ids; the request's URL is not logged.
      const annotated = yield* logged(inRequest(Effect.log("x").pipe(Effect.annotateLogs({ task_id: "t2" }))))
      assert.strictEqual(annotated.task_id, "t2")
      assert.notInclude(JSON.stringify(annotated), "coder_session_token")
    }))
})
