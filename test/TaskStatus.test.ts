/**
 * Task status (spec §5.1) as real endpoints move it, and TestPauseTask (spec §9): pause and resume through
 * the API, with the job runner running the builds and the test acting as the workspace agent. A provisioner
 * that can hold a stop open makes "a build is in progress" a state rather than a race.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { createTemplate, createUser } from "./support/Fixtures.ts"
import { messagesBody, request, upload } from "./support/Http.ts"
import { sleepLive } from "./support/Net.ts"
import {
  actAsAgent,
  agentToken,
  createActiveTask,
  createTask,
  noJobWorkers,
  pauseTask,
  standard404,
  waitForBuildDone,
  waitForStatus,
  waitForTask
} from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

const pausePath = (taskId: string, user = "me") => `/api/v2/tasks/${user}/${taskId}/pause`
const resumePath = (taskId: string, user = "me") => `/api/v2/tasks/${user}/${taskId}/resume`

for (const backend of Backends.all) {
  const { hold, layer: provisioner, record } = Workspaces.recording()
  layer(TestServer.layer(backend, { provisioner }), { timeout: 120_000, excludeTestServices: true })(
    `task status [${backend.name}]`,
    (it) => {
      it.effect("pending -> initializing -> active, with the agent's lifecycle and the app's health", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const created = yield* createTask(user, template.versionId)
          assert.strictEqual(created.status, "pending")

          const token = yield* agentToken(record, created.id)
          const initializing = yield* waitForStatus(user.token, created.id, "initializing")
          assert.strictEqual(initializing.current_state?.state, "working")
          assert.isNotNull(initializing.workspace_agent_id)
          assert.isNotNull(initializing.workspace_app_id)

          // Agent starting, then ready with the app still initializing: initializing, with Coder's messages.
          yield* actAsAgent(token, { lifecycle: "starting" })
          const starting = yield* waitForTask(
            user.token,
            created.id,
            (task) => task.workspace_agent_lifecycle === "starting" && task.workspace_status === "running",
            "agent starting"
          )
          assert.strictEqual(starting.status, "initializing")
          assert.strictEqual(starting.current_state?.message, "Agent is starting")
          yield* actAsAgent(token, { lifecycle: "ready" })
          const appInitializing = yield* waitForTask(
            user.token,
            created.id,
            (task) => task.workspace_agent_lifecycle === "ready",
            "agent ready"
          )
          assert.strictEqual(appInitializing.status, "initializing")
          assert.strictEqual(appInitializing.current_state?.message, "App is initializing")

          const { appId, manifest } = yield* actAsAgent(token, { health: "healthy" })
          const active = yield* waitForStatus(user.token, created.id, "active")
          assert.strictEqual(active.workspace_agent_id, manifest.agent_id)
          assert.strictEqual(active.workspace_app_id, appId)
          assert.strictEqual(active.workspace_agent_lifecycle, "ready")
          assert.deepStrictEqual(active.workspace_agent_health, { healthy: true })
          assert.strictEqual(active.workspace_status, "running")
          assert.strictEqual(active.workspace_build_number, 1)
          assert.isNull(active.current_state)
        }))

      it.effect("error: the agent is ready and the app unhealthy", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTask(user, template.versionId)
          const token = yield* agentToken(record, task.id)
          yield* actAsAgent(token, { lifecycle: "ready", health: "unhealthy" })
          const failed = yield* waitForStatus(user.token, task.id, "error")
          assert.strictEqual(failed.workspace_agent_lifecycle, "ready")
          // And back to active once healthy again.
          yield* actAsAgent(token, { health: "healthy" })
          yield* waitForStatus(user.token, task.id, "active")
        }))

      it.effect("error: the start build failed; the input cannot be updated, and a resume may retry", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTask(user, template.versionId, { input: "FAIL on purpose" })
          const failed = yield* waitForStatus(user.token, task.id, "error")
          assert.strictEqual(failed.workspace_status, "failed")
          const update = yield* request("PATCH", `/api/v2/tasks/me/${task.id}/input`, {
            token: user.token,
            body: JSON.stringify({ input: "another prompt" })
          })
          assert.strictEqual(update.status, 409)
          assert.strictEqual(update.json.message, "Unable to update task input, task must be paused.")
          const resume = yield* request("POST", resumePath(task.id), { token: user.token })
          assert.strictEqual(resume.status, 202)
          assert.strictEqual(resume.json.workspace_build.transition, "start")
          assert.strictEqual(resume.json.workspace_build.build_number, 2)
          const again = yield* waitForTask(
            user.token,
            task.id,
            (current) => current.workspace_build_number === 2 && current.workspace_status === "failed",
            "the retried start failed"
          )
          assert.strictEqual(again.status, "error")
        }))

      it.effect("unknown: agent lifecycle off (or shutting down) while the start build succeeded", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const { agentToken: token, task } = yield* createActiveTask(user, template.versionId, record)
          yield* actAsAgent(token, { lifecycle: "off" })
          const off = yield* waitForStatus(user.token, task.id, "unknown")
          assert.strictEqual(off.workspace_status, "running")
          assert.strictEqual(off.workspace_agent_lifecycle, "off")
          assert.strictEqual(off.workspace_agent_health?.healthy, false)
          yield* actAsAgent(token, { lifecycle: "ready" })
          yield* waitForStatus(user.token, task.id, "active")
          yield* actAsAgent(token, { lifecycle: "shutting_down" })
          yield* waitForStatus(user.token, task.id, "unknown")
        }))

      it.effect("paused: after a pause's stop build ran; unknown while it runs", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const { agentToken: token, task } = yield* createActiveTask(user, template.versionId, record)
          const release = yield* hold(task.workspace_id!)
          const client = yield* TestServer.clientFor(user.token)
          yield* client.tasks.pause({ params: { user: "me", task: task.id } })
          const stopping = yield* waitForTask(
            user.token,
            task.id,
            (current) => current.workspace_status === "stopping",
            "stop build running"
          )
          assert.strictEqual(stopping.status, "unknown")
          // While its stop build runs, the agent of the start build may still upload its snapshot (spec §1.2).
          const uploaded = yield* upload(token, task.id, messagesBody([{ id: 0, content: "bye", role: "agent" }]))
          assert.strictEqual(uploaded.status, 204)
          yield* release
          const paused = yield* waitForStatus(user.token, task.id, "paused")
          assert.strictEqual(paused.workspace_status, "stopped")
          assert.strictEqual(paused.workspace_build_number, 2)
          assert.include(record.stops, task.workspace_id)
          // Once the stop build is done, the token is no longer accepted.
          const after = yield* request("GET", "/api/v2/workspaceagents/me/manifest", { token })
          assert.strictEqual(after.status, 401)
          const logs = yield* request("GET", `/api/v2/tasks/me/${task.id}/logs`, { token: user.token })
          assert.strictEqual(logs.status, 200)
          assert.strictEqual(logs.json.snapshot, true)
          assert.deepStrictEqual(logs.json.logs.map((entry: any) => entry.content), ["bye"])
        }))

      describe("TestPauseTask", () => {
        it.effect("OK: 202 with the stop build: transition stop, reason task_manual_pause, number previous + 1", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { task } = yield* createActiveTask(user, template.versionId, record)
            const response = yield* request("POST", pausePath(task.id), { token: user.token })
            assert.strictEqual(response.status, 202)
            assert.deepStrictEqual(Object.keys(response.json), ["workspace_build"])
            const build = response.json.workspace_build
            assert.strictEqual(build.transition, "stop")
            assert.strictEqual(build.reason, "task_manual_pause")
            assert.strictEqual(build.build_number, task.workspace_build_number! + 1)
            assert.strictEqual(build.workspace_id, task.workspace_id)
            assert.strictEqual(build.workspace_name, task.workspace_name)
            assert.strictEqual(build.workspace_owner_id, user.id)
            assert.strictEqual(build.initiator_id, user.id)
            assert.strictEqual(build.template_version_id, template.versionId)
            assert.strictEqual(build.job_status, "pending")
            assert.strictEqual(build.status, "pending")
            const paused = yield* waitForStatus(user.token, task.id, "paused")
            assert.strictEqual(paused.workspace_build_number, build.build_number)
          }))

        it.effect("by name, and through the typed client under /api/experimental", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId)
            yield* waitForBuildDone(user.token, task.id)
            const client = yield* TestServer.clientFor(user.token)
            const { workspace_build } = yield* client.experimentalTasks.pause({
              params: { user: user.username, task: task.name }
            })
            assert.strictEqual(workspace_build.transition, "stop")
            assert.strictEqual(workspace_build.build_number, 2)
            yield* waitForStatus(user.token, task.id, "paused")
          }))

        it.effect("Task not found: 404", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const response = yield* request("POST", pausePath(randomUUID()), { token: user.token })
            assert.strictEqual(response.status, 404)
            assert.deepStrictEqual(response.json, standard404)
            const resume = yield* request("POST", resumePath(randomUUID()), { token: user.token })
            assert.strictEqual(resume.status, 404)
          }))

        it.effect("Task lookup forbidden: another member gets 404, and no build is queued", () =>
          Effect.gen(function*() {
            const owner = yield* createUser()
            const other = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(owner, template.versionId)
            yield* waitForBuildDone(owner.token, task.id)
            for (const path of [pausePath(task.id), pausePath(task.name, owner.username)]) {
              const response = yield* request("POST", path, { token: other.token })
              assert.strictEqual(response.status, 404, path)
              assert.deepStrictEqual(response.json, standard404)
            }
            const resume = yield* request("POST", resumePath(task.id), { token: other.token })
            assert.strictEqual(resume.status, 404)
            const still = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: owner.token })
            assert.strictEqual(still.json.workspace_build_number, 1)
          }))

        it.effect("Job already in progress: a second pause while the stop build runs is a 409", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { task } = yield* createActiveTask(user, template.versionId, record)
            const release = yield* hold(task.workspace_id!)
            const first = yield* request("POST", pausePath(task.id), { token: user.token })
            assert.strictEqual(first.status, 202)
            const second = yield* request("POST", pausePath(task.id), { token: user.token })
            assert.strictEqual(second.status, 409)
            assert.isString(second.json.message)
            assert.isTrue(second.json.message.length > 0)
            // Neither may a resume or a delete start while the stop is in progress.
            const resume = yield* request("POST", resumePath(task.id), { token: user.token })
            assert.strictEqual(resume.status, 409)
            const remove = yield* request("DELETE", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(remove.status, 409)
            const still = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(still.status, 200)
            assert.strictEqual(still.json.workspace_build_number, 2)
            yield* release
            const paused = yield* waitForStatus(user.token, task.id, "paused")
            assert.strictEqual(paused.workspace_build_number, 2)
          }))

        it.effect("resume: 202 start/task_resume, pending or initializing, then active with the new agent token", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { agentToken: oldToken, task } = yield* createActiveTask(user, template.versionId, record)
            const { build: stop } = yield* pauseTask(user.token, task.id)
            const starts = record.starts.filter((spec) => spec.taskId === task.id).length

            const response = yield* request("POST", resumePath(task.id), { token: user.token })
            assert.strictEqual(response.status, 202)
            const build = response.json.workspace_build
            assert.strictEqual(build.transition, "start")
            assert.strictEqual(build.reason, "task_resume")
            assert.strictEqual(build.build_number, stop.build_number + 1)
            assert.strictEqual(build.workspace_id, task.workspace_id)
            assert.strictEqual(build.template_version_id, template.versionId)

            const after = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.include(["pending", "initializing"], after.json.status)
            const newToken = yield* agentToken(record, task.id, starts)
            assert.notStrictEqual(newToken, oldToken)
            const initializing = yield* waitForStatus(user.token, task.id, "initializing")
            assert.strictEqual(initializing.workspace_build_number, build.build_number)
            assert.notStrictEqual(initializing.workspace_agent_id, task.workspace_agent_id)

            // The old agent belongs to an old build now.
            const old = yield* request("GET", "/api/v2/workspaceagents/me/manifest", { token: oldToken })
            assert.strictEqual(old.status, 401)

            const { manifest } = yield* actAsAgent(newToken, { lifecycle: "ready", health: "healthy" })
            assert.strictEqual(manifest.task_id, task.id)
            const active = yield* waitForStatus(user.token, task.id, "active")
            assert.strictEqual(active.workspace_agent_id, manifest.agent_id)
            assert.strictEqual(active.workspace_build_number, build.build_number)
          }))

        it.effect("resume of a task that is not paused is refused, and no build is queued", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { task } = yield* createActiveTask(user, template.versionId, record)
            const response = yield* request("POST", resumePath(task.id), { token: user.token })
            assert.strictEqual(response.status, 409)
            const still = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(still.json.workspace_build_number, 1)
            assert.strictEqual(still.json.status, "active")
          }))
      })
    }
  )

  // No job runs on this server: a build stays queued, so "pending" and "already in progress" are states.
  layer(TestServer.layer(backend).pipe(Layer.provide(noJobWorkers)), {
    timeout: 120_000,
    excludeTestServices: true
  })(`task status, builds stay queued [${backend.name}]`, (it) => {
    it.effect("pending: the start build's job is queued; pause is a 409 while it is", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const template = yield* createTemplate()
        const task = yield* createTask(user, template.versionId)
        assert.strictEqual(task.status, "pending")
        yield* sleepLive(300)
        const still = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
        assert.strictEqual(still.json.status, "pending")
        assert.strictEqual(still.json.workspace_status, "pending")
        assert.isNull(still.json.current_state)
        const pause = yield* request("POST", pausePath(task.id), { token: user.token })
        assert.strictEqual(pause.status, 409)
        const after = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
        assert.strictEqual(after.json.workspace_build_number, 1)
      }))
  })
}
