/**
 * The README quickstart, end to end: the local process provisioner runs scripts/demo-agent.ts as the
 * workspace; the task becomes active, takes input, is paused (the agent uploads its snapshot on SIGTERM),
 * reads the same conversation from the snapshot, resumes and is deleted. HTTP only, real processes.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as Backends from "./support/Backends.ts"
import { adminToken, createUser } from "./support/Fixtures.ts"
import { pollUntil, waitForStatus } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const demoAgent = "node scripts/demo-agent.ts"

for (const backend of Backends.all) {
  layer(TestServer.layer(backend), { timeout: 120_000, excludeTestServices: true })(
    `quickstart with the demo agent [${backend.name}]`,
    (it) => {
      it.effect("create, active, send, live logs, pause, snapshot logs, resume, delete", () =>
        Effect.gen(function*() {
          const admin = yield* TestServer.clientFor(yield* adminToken)
          const template = yield* admin.templates.create({
            params: { organization: "default" },
            payload: { name: "demo", agent_command: demoAgent }
          })
          const user = yield* createUser()
          const client = yield* TestServer.clientFor(user.token)
          const path = (task: string) => ({ params: { user: "me", task } })

          const created = yield* client.tasks.create({
            params: { user: "me" },
            payload: { template_version_id: template.active_version_id, input: "Build me a web app" }
          })
          assert.strictEqual(created.status, "pending")
          yield* waitForStatus(user.token, created.id, "active", 60_000)

          // The agent answered the prompt; talk to it and read the live conversation.
          const live = yield* pollUntil(
            client.tasks.logs(path(created.name)),
            (logs) => logs.logs.length >= 2,
            (last) => JSON.stringify(last)
          )
          assert.isUndefined(live.snapshot)
          assert.deepStrictEqual(live.logs.map((entry) => [entry.type, entry.content]), [
            ["input", "Build me a web app"],
            ["output", "Done: Build me a web app"]
          ])
          yield* pollUntil(
            client.tasks.send({ ...path(created.id), payload: { input: "Add a login page" } }).pipe(Effect.result),
            Result.isSuccess,
            (last) => JSON.stringify(last)
          )
          const beforePause = yield* pollUntil(
            client.tasks.logs(path(created.id)),
            (logs) => logs.logs.length === 4,
            (last) => JSON.stringify(last)
          )

          // Pausing stops the process; its shutdown uploads the snapshot, which the logs now come from.
          const paused = yield* client.tasks.pause(path(created.id))
          assert.strictEqual(paused.workspace_build.transition, "stop")
          yield* waitForStatus(user.token, created.id, "paused", 60_000)
          const fromSnapshot = yield* client.tasks.logs(path(created.id))
          assert.strictEqual(fromSnapshot.snapshot, true)
          assert.isDefined(fromSnapshot.snapshot_at)
          assert.deepStrictEqual(fromSnapshot.logs, beforePause.logs)

          // Resume starts a new workspace process; the task is active again with a live conversation.
          const resumed = yield* client.tasks.resume(path(created.id))
          assert.strictEqual(resumed.workspace_build.transition, "start")
          yield* waitForStatus(user.token, created.id, "active", 60_000)
          const again = yield* pollUntil(
            client.tasks.logs(path(created.id)),
            (logs) => logs.logs.length >= 2,
            (last) => JSON.stringify(last)
          )
          assert.isUndefined(again.snapshot)

          yield* client.tasks.delete(path(created.id))
          const gone = yield* client.tasks.get(path(created.id)).pipe(Effect.flip)
          assert.strictEqual(gone._tag, "NotFound")
        }))

      it.effect("a workspace process gets the agent's environment, and dying on its own turns its agent off", () =>
        Effect.gen(function*() {
          const dir = mkdtempSync(Path.join(tmpdir(), "taskd-env-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          const admin = yield* TestServer.clientFor(yield* adminToken)
          const template = yield* admin.templates.create({
            params: { organization: "default" },
            payload: { name: `env-${Date.now()}`, agent_command: `env > ${dir}/env; exit 3` }
          })
          const user = yield* createUser()
          const client = yield* TestServer.clientFor(user.token)
          const created = yield* client.tasks.create({
            params: { user: "me" },
            payload: { template_version_id: template.active_version_id, input: "say hi" }
          })
          // The agent never reported anything; its process exited, so the agent is off: status unknown.
          const task = yield* waitForStatus(user.token, created.id, "unknown", 60_000)
          assert.strictEqual(task.workspace_agent_lifecycle, "off")
          const env = Object.fromEntries(
            readFileSync(Path.join(dir, "env"), "utf8").split("\n").filter((line) => line.includes("=")).map((
              line
            ) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)])
          )
          assert.strictEqual(env["CODER_TASK_ID"], created.id)
          assert.strictEqual(env["CODER_TASK_PROMPT"], "say hi")
          assert.strictEqual(env["CODER_AGENT_APP_SLUG"], "task-app")
          assert.match(env["CODER_AGENT_TOKEN"] ?? "", /^[0-9a-f-]{36}$/)
          assert.match(env["CODER_AGENT_URL"] ?? "", /^http:\/\/127\.0\.0\.1:\d+$/)
          assert.match(env["AGENTAPI_PORT"] ?? "", /^\d+$/)
          // The token is the agent's: it may read its manifest (the start build is still the latest).
          const agent = yield* TestServer.clientFor(env["CODER_AGENT_TOKEN"]!)
          const manifest = yield* agent.agent.manifest()
          assert.strictEqual(manifest.task_id, created.id)
          assert.strictEqual(manifest.apps[0]?.url, `http://127.0.0.1:${env["AGENTAPI_PORT"]}`)
        }))
    }
  )
}
