/**
 * The local process provisioner's ports (issue 17 §2): task apps get ports of TASKD_PORT_RANGE that taskd
 * alone hands out, a port something else listens on is passed over, and an agent whose port another
 * program takes before it listens is started again on another port instead of losing its task. Real demo
 * agents (scripts/demo-agent.ts), as test/Quickstart.test.ts runs them; HTTP, plus SQL to read the app URLs
 * taskd stored.
 */
import { assert, describe, it as plainIt, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { parsePortRange, portIsFree, PortRangeConfig } from "../src/Provisioner/LocalProcess.ts"
import * as Backends from "./support/Backends.ts"
import { adminToken, createUser, uniqueName } from "./support/Fixtures.ts"
import { pollUntil, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const demoAgent = "node scripts/demo-agent.ts"

/** How many tasks are created at once. */
const concurrentTasks = 50

/**
 * A range of 100 ports of its own, just below Linux's ephemeral ports and above taskd's default range (so
 * the other suites' agents do not use it), at a random place, so two runs on one host rarely share it.
 */
const rangeFirst = 30_000 + Math.floor(Math.random() * 2_600)
const range = { first: rangeFirst, last: rangeFirst + 99 }

/** Listens on 127.0.0.1:`port` for the life of the scope (nothing if something already does). */
const occupy = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<Server | undefined>((resume) => {
      const server = createServer((socket) => socket.destroy())
      server.once("error", () => resume(Effect.succeed(undefined)))
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        if (server === undefined) resume(Effect.void)
        else server.close(() => resume(Effect.void))
      })
  )

/** The app URL taskd stored for the task's latest build (where it reaches the task's agentapi). */
const appUrlOf = (taskId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ url: string }>`
      SELECT wa.url FROM task_workspace_apps twa JOIN workspace_apps wa ON wa.id = twa.workspace_app_id
      WHERE twa.task_id = ${taskId} ORDER BY twa.workspace_build_number DESC LIMIT 1`
    return rows[0]?.url ?? ""
  }).pipe(Effect.orDie)

const portOf = (url: string) => Number(new URL(url).port)

/**
 * A command that, on the first start of each agent only, has a program outside the workspace's process
 * group (its own session) take AGENTAPI_PORT just before the agent listens: the race the range cannot rule
 * out. It records `<pid> <port>` of each such program in `squatters`.
 */
const squatScript = `
import { spawn } from "node:child_process"
import { appendFileSync, existsSync, writeFileSync } from "node:fs"
const dir = new URL(".", import.meta.url).pathname
const port = process.env.AGENTAPI_PORT
const marker = dir + "started-" + process.env.CODER_AGENT_TOKEN
if (!existsSync(marker)) {
  writeFileSync(marker, port)
  const squatter = spawn(process.execPath, ["-e", \`
    const server = require("node:net").createServer((socket) => socket.destroy())
    server.listen(\${port}, "127.0.0.1", () => console.log("listening"))
    setTimeout(() => process.exit(0), 180000)\`], { detached: true, stdio: ["ignore", "pipe", "ignore"] })
  await new Promise((resolve) => squatter.stdout.once("data", resolve))
  appendFileSync(dir + "squatters", squatter.pid + " " + port + "\\n")
  squatter.stdout.destroy()
  squatter.unref()
}
`

describe("TASKD_PORT_RANGE", () => {
  plainIt("reads <first>-<last> and refuses anything else", () => {
    assert.deepStrictEqual(parsePortRange("20000-29999"), { first: 20000, last: 29999 })
    assert.deepStrictEqual(parsePortRange(" 4000 - 4000 "), { first: 4000, last: 4000 })
    for (const bad of ["", "20000", "abc-def", "0-10", "10-70000", "3000-2000", "1-2-3"]) {
      assert.isString(parsePortRange(bad), bad)
    }
  })

  plainIt.effect(
    "defaults to 20000-29999; a malformed value is a ConfigError naming the variable",
    () =>
      Effect.gen(function*() {
        const read = (env: Record<string, string>) =>
          PortRangeConfig.parse(ConfigProvider.fromEnv({ env })).pipe(Effect.result)
        const defaulted = yield* read({})
        assert.deepStrictEqual(defaulted._tag === "Success" ? defaulted.success : undefined, {
          first: 20000,
          last: 29999
        })
        const bad = yield* read({ TASKD_PORT_RANGE: "30000-20000" })
        assert.strictEqual(bad._tag, "Failure")
        assert.include(bad._tag === "Failure" ? bad.failure.message : "", "TASKD_PORT_RANGE")
      })
  )
})

for (const backend of Backends.all) {
  layer(
    TestServer.layer(backend).pipe(Layer.provide(withEnv({ TASKD_PORT_RANGE: `${range.first}-${range.last}` }))),
    { timeout: 300_000, excludeTestServices: true }
  )(`local process ports [${backend.name}]`, (it) => {
    it.effect(
      `${concurrentTasks} tasks created at once all become active on ports of the range, passing over ports in use`,
      () =>
        Effect.gen(function*() {
          // Every tenth port of the range is taken by another program before any task starts.
          const occupied = Array.from({ length: 10 }, (_, i) => range.first + 10 * i + 3)
          yield* Effect.forEach(occupied, occupy, { discard: true })

          const admin = yield* TestServer.clientFor(yield* adminToken)
          const template = yield* admin.templates.create({
            params: { organization: "default" },
            payload: { name: uniqueName("demo"), agent_command: demoAgent }
          })
          const user = yield* createUser()
          const client = yield* TestServer.clientFor(user.token)

          const started = Date.now()
          const created = yield* Effect.forEach(
            Array.from({ length: concurrentTasks }, (_, i) => i),
            (i) =>
              client.tasks.create({
                params: { user: "me" },
                payload: { template_version_id: template.active_version_id, input: `Task number ${i}` }
              }),
            { concurrency: "unbounded" }
          )
          const ids = new Set(created.map((task) => task.id))

          // All of them active; none lost (an agent that died would leave its task unknown or initializing).
          yield* pollUntil(
            client.tasks.list({ query: { q: "owner:me" } }),
            (list) => list.tasks.filter((task) => ids.has(task.id) && task.status === "active").length === ids.size,
            (last) => {
              const counts: Record<string, number> = {}
              for (const task of last?.tasks ?? []) counts[task.status] = (counts[task.status] ?? 0) + 1
              return `not all ${ids.size} tasks became active: ${JSON.stringify(counts)}`
            },
            180_000
          )
          const activeAfter = Date.now() - started

          // Each on a port of the range of its own, none of them one that was in use.
          const ports = yield* Effect.forEach(created, (task) => Effect.map(appUrlOf(task.id), portOf))
          assert.strictEqual(new Set(ports).size, concurrentTasks, `ports: ${ports.join(",")}`)
          for (const port of ports) {
            assert.isAtLeast(port, range.first)
            assert.isAtMost(port, range.last)
            assert.notInclude(occupied, port)
          }

          // And each agent answers: taskd reads its conversation from the app URL it stored.
          yield* Effect.forEach(
            created,
            (task) =>
              pollUntil(
                client.tasks.logs({ params: { user: "me", task: task.id } }),
                (logs) => logs.logs.length >= 2,
                (last) => `task ${task.id}: ${JSON.stringify(last)}`,
                60_000
              ).pipe(Effect.map((logs) => {
                assert.isUndefined(logs.snapshot)
                assert.strictEqual(logs.logs[0]?.content, task.initial_prompt)
              })),
            { concurrency: 10, discard: true }
          )
          yield* Effect.logInfo(
            `${concurrentTasks} tasks active ${activeAfter} ms after the creates began, ` +
              `all answering after ${Date.now() - started} ms`
          )
        }),
      // 50 agent processes start, report and answer on two cores, each followed by a recorder: a minute
      // was too tight on a loaded machine.
      240_000
    )

    it.effect("an agent whose port another program takes before it listens is started again on another port", () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(Path.join(tmpdir(), "taskd-squat-"))
        writeFileSync(Path.join(dir, "squat.mjs"), squatScript)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            let squatters = ""
            try {
              squatters = readFileSync(Path.join(dir, "squatters"), "utf8")
            } catch {
              // none started
            }
            for (const line of squatters.split("\n").filter((line) => line !== "")) {
              try {
                process.kill(Number(line.split(" ")[0]))
              } catch {
                // already gone
              }
            }
            rmSync(dir, { recursive: true, force: true })
          })
        )
        const admin = yield* TestServer.clientFor(yield* adminToken)
        const template = yield* admin.templates.create({
          params: { organization: "default" },
          payload: { name: uniqueName("squat"), agent_command: `node ${dir}/squat.mjs && exec ${demoAgent}` }
        })
        const user = yield* createUser()
        const client = yield* TestServer.clientFor(user.token)
        const task = yield* client.tasks.create({
          params: { user: "me" },
          payload: { template_version_id: template.active_version_id, input: "Build me a web app" }
        })

        // The first start dies on its port (EADDRINUSE); the task still becomes active.
        const active = yield* pollUntil(
          client.tasks.get({ params: { user: "me", task: task.id } }),
          (current) => current.status === "active",
          (last) => `task never became active; last status ${last?.status ?? "(none)"}`,
          90_000
        )
        assert.strictEqual(active.workspace_agent_lifecycle, "ready")
        const squattedPorts = () =>
          readFileSync(Path.join(dir, "squatters"), "utf8").trim().split("\n").map((line) => Number(line.split(" ")[1]))
        const [squatted] = squattedPorts()
        // The other program still has the first port: the conflict was real.
        assert.isFalse(yield* portIsFree(squatted))
        // The app URL taskd stored moved to the port the agent listens on, and the agent answers there.
        const port = portOf(yield* appUrlOf(task.id))
        assert.notStrictEqual(port, squatted)
        assert.isAtLeast(port, range.first)
        assert.isAtMost(port, range.last)
        const logs = yield* pollUntil(
          client.tasks.logs({ params: { user: "me", task: task.id } }),
          (current) => current.logs.length >= 2,
          (last) => JSON.stringify(last),
          60_000
        )
        assert.deepStrictEqual(logs.logs.map((entry) => entry.content), [
          "Build me a web app",
          "Done: Build me a web app"
        ])

        // Paused and resumed (a new agent, whose first start meets a squatter of its own), it is active again.
        yield* client.tasks.pause({ params: { user: "me", task: task.id } })
        yield* pollUntil(
          client.tasks.get({ params: { user: "me", task: task.id } }),
          (current) => current.status === "paused",
          (last) => `task never paused; last status ${last?.status ?? "(none)"}`,
          60_000
        )
        yield* client.tasks.resume({ params: { user: "me", task: task.id } })
        yield* pollUntil(
          client.tasks.get({ params: { user: "me", task: task.id } }),
          (current) => current.status === "active",
          (last) => `task never became active again; last status ${last?.status ?? "(none)"}`,
          60_000
        )
        assert.lengthOf(squattedPorts(), 2)
        assert.notInclude(squattedPorts(), portOf(yield* appUrlOf(task.id)))
      }))
  })
}
