/**
 * TestTasks (spec §9): list, get, delete and update input, through the typed client and raw requests,
 * with the job runner really running the builds and the test acting as the workspace agent.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { adminToken, createTemplate, createUser, storedSnapshot } from "./support/Fixtures.ts"
import { request, snapshotBody, upload } from "./support/Http.ts"
import {
  actAsAgent,
  agentToken,
  createActiveTask,
  createTask,
  noJobWorkers,
  pauseTask,
  pollUntil,
  standard404,
  waitForBuildDone,
  waitForStatus,
  waitForTask
} from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

const list = (token: string, q?: string) =>
  request("GET", q === undefined ? "/api/v2/tasks" : `/api/v2/tasks?q=${encodeURIComponent(q)}`, { token })

const initializingMessages = [
  "Initializing workspace",
  "Workspace is pending",
  "Workspace is starting",
  "Agent is connecting",
  "Agent is starting",
  "App is initializing",
  "Initializing workspace applications",
  "Initializing workspace agent"
]

for (const backend of Backends.all) {
  const { layer: provisioner, record } = Workspaces.recording()
  layer(TestServer.layer(backend, { provisioner }), { timeout: 120_000, excludeTestServices: true })(
    `TestTasks [${backend.name}]`,
    (it) => {
      describe("List", () => {
        it.effect("owner:me: every own task, newest first, with count", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const first = yield* createTask(user, template.versionId, { input: "first prompt" })
            const second = yield* createTask(user, template.versionId, { input: "second prompt" })
            const third = yield* createTask(user, template.versionId, { input: "third prompt" })
            yield* waitForStatus(user.token, first.id, "initializing")
            const client = yield* TestServer.clientFor(user.token)
            const response = yield* client.tasks.list({ query: { q: "owner:me" } })
            assert.strictEqual(response.count, 3)
            assert.deepStrictEqual(response.tasks.map((task) => task.id), [third.id, second.id, first.id])
            const found = response.tasks.find((task) => task.id === first.id)!
            assert.strictEqual(found.initial_prompt, "first prompt")
            assert.strictEqual(found.workspace_id, first.workspace_id)
            assert.strictEqual(found.workspace_name, first.name)
            assert.isTrue(found.status.length > 0)
            assert.isTrue((found.workspace_status ?? "").length > 0)
            // The same, with `q` in another case, by username as free text, and under /api/experimental.
            const upper = yield* client.tasks.list({ query: { q: "OWNER:ME" } })
            assert.strictEqual(upper.count, 3)
            const freeText = yield* client.tasks.list({ query: { q: user.username } })
            assert.deepStrictEqual(freeText.tasks.map((task) => task.id), [third.id, second.id, first.id])
            const experimental = yield* client.experimentalTasks.list({ query: { q: "owner:me" } })
            assert.strictEqual(experimental.count, 3)
          }))

        it.effect("an empty list is {tasks: [], count: 0}", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const response = yield* list(user.token, "owner:me")
            assert.strictEqual(response.status, 200)
            assert.deepStrictEqual(response.json, { tasks: [], count: 0 })
          }))

        it.effect("q grammar errors: 400 Invalid task search query. with Coder's validation texts", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const cases: ReadonlyArray<readonly [string, ReadonlyArray<{ field: string; detail: string }>]> = [
              ["owner:", [{ field: "q", detail: `Query element "owner:" cannot start or end with ':'` }]],
              [":me", [{ field: "q", detail: `Query element ":me" cannot start or end with ':'` }]],
              ["owner:me:you", [{ field: "q", detail: `Query element "owner:me:you" can only contain 1 ':'` }]],
              ["color:blue", [{ field: "color", detail: `"color" is not a valid query param` }]],
              ["owner:me owner:me", [{
                field: "owner",
                detail:
                  `Query param "owner" provided more than once, found 2 times. Only provide 1 instance of this query param.`
              }]],
              ["owner:nosuchuser", [{
                field: "owner",
                detail:
                  `Query param "owner" has invalid value: user "nosuchuser" either does not exist, or you are unauthorized to view them`
              }]],
              ["organization:nosuchorg", [{
                field: "organization",
                detail:
                  `Query param "organization" has invalid value: organization "nosuchorg" either does not exist, or you are unauthorized to view it`
              }]]
            ]
            for (const [q, validations] of cases) {
              const response = yield* list(user.token, q)
              assert.strictEqual(response.status, 400, q)
              assert.deepStrictEqual(response.json, { message: "Invalid task search query.", validations }, q)
            }
          }))

        it.effect("an unknown status is a 400 whose validation names the allowed values", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const response = yield* list(user.token, "status:sleeping")
            assert.strictEqual(response.status, 400)
            assert.strictEqual(response.json.message, "Invalid task search query.")
            assert.strictEqual(response.json.validations.length, 1)
            const [validation] = response.json.validations
            assert.strictEqual(validation.field, "status")
            assert.include(validation.detail, "sleeping")
            for (const status of ["pending", "initializing", "active", "paused", "error", "unknown"]) {
              assert.include(validation.detail, status)
            }
          }))

        it.effect("status:paused lists only the paused task", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const running = yield* createTask(user, template.versionId)
            const paused = yield* createTask(user, template.versionId)
            yield* pauseTask(user.token, paused.id)
            yield* waitForStatus(user.token, running.id, "initializing")
            const client = yield* TestServer.clientFor(user.token)
            const onlyPaused = yield* client.tasks.list({ query: { q: "owner:me status:paused" } })
            assert.deepStrictEqual(onlyPaused.tasks.map((task) => task.id), [paused.id])
            assert.strictEqual(onlyPaused.count, 1)
            assert.strictEqual(onlyPaused.tasks[0]!.status, "paused")
            const initializing = yield* client.tasks.list({ query: { q: "owner:me status:initializing" } })
            assert.deepStrictEqual(initializing.tasks.map((task) => task.id), [running.id])
            const active = yield* client.tasks.list({ query: { q: "owner:me status:active" } })
            assert.strictEqual(active.count, 0)
          }))

        it.effect("q given twice in the URL is not silently dropped: the first applies (as Go's Get) or it is a 400", () =>
          Effect.gen(function*() {
            const template = yield* createTemplate()
            const alice = yield* createUser()
            const bob = yield* createUser()
            yield* createTask(alice, template.versionId)
            yield* createTask(bob, template.versionId)
            const admin = yield* adminToken
            const response = yield* request(
              "GET",
              `/api/v2/tasks?q=${encodeURIComponent(`owner:${alice.username}`)}&q=${
                encodeURIComponent(`owner:${alice.username}`)
              }`,
              { token: admin }
            )
            if (response.status === 400) {
              assert.strictEqual(response.json.validations[0].field, "q")
            } else {
              assert.strictEqual(response.status, 200)
              const owners = new Set(response.json.tasks.map((task: any) => task.owner_id))
              assert.deepStrictEqual([...owners], [alice.id], "the owner filter was dropped")
            }
          }))

        it.effect("a member sees only their own tasks; an owner sees everyone's", () =>
          Effect.gen(function*() {
            const template = yield* createTemplate()
            const alice = yield* createUser()
            const bob = yield* createUser()
            const alices = yield* createTask(alice, template.versionId)
            const bobs = yield* createTask(bob, template.versionId)
            const aliceList = yield* list(alice.token)
            assert.strictEqual(aliceList.status, 200)
            assert.deepStrictEqual(aliceList.json.tasks.map((task: any) => task.id), [alices.id])
            assert.strictEqual(aliceList.json.count, 1)
            const aliceOnBob = yield* list(alice.token, `owner:${bob.username}`)
            assert.deepStrictEqual(aliceOnBob.json, { tasks: [], count: 0 })
            const aliceOnBobId = yield* list(alice.token, `owner:${bob.id}`)
            assert.deepStrictEqual(aliceOnBobId.json, { tasks: [], count: 0 })
            // Her own name, in any case, is her: the same list as no filter.
            const aliceOnAlice = yield* list(alice.token, `owner:${alice.username.toUpperCase()}`)
            assert.deepStrictEqual(aliceOnAlice.json, aliceList.json)

            const admin = yield* adminToken
            const all = yield* list(admin)
            const ids = all.json.tasks.map((task: any) => task.id)
            assert.include(ids, alices.id)
            assert.include(ids, bobs.id)
            assert.strictEqual(all.json.count, ids.length)
            const onlyBob = yield* list(admin, `owner:${bob.username}`)
            assert.deepStrictEqual(onlyBob.json.tasks.map((task: any) => task.id), [bobs.id])
          }))
      })

      describe("Get", () => {
        it.effect("by id and by owner/name: the same object, with the workspace's agent and app", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { appId, manifest, task: active } = yield* createActiveTask(user, template.versionId, record)
            const client = yield* TestServer.clientFor(user.token)
            const byId = yield* client.tasks.get({ params: { user: "me", task: active.id } })
            assert.strictEqual(byId.workspace_build_number, 1)
            assert.strictEqual(byId.workspace_agent_id, manifest.agent_id)
            assert.strictEqual(byId.workspace_app_id, appId)
            assert.strictEqual(byId.workspace_id, manifest.workspace_id)
            assert.strictEqual(manifest.task_id, active.id)
            assert.strictEqual(byId.workspace_status, "running")
            const byName = yield* client.tasks.get({ params: { user: "me", task: active.name } })
            assert.deepStrictEqual(byName, byId)
            const byUsername = yield* client.tasks.get({
              params: { user: user.username, task: active.name.toUpperCase() }
            })
            assert.deepStrictEqual(byUsername, byId)
            const rawById = yield* request("GET", `/api/v2/tasks/me/${active.id}`, { token: user.token })
            const rawByName = yield* request("GET", `/api/v2/tasks/${user.id}/${active.name}`, { token: user.token })
            assert.strictEqual(rawById.text, rawByName.text)
          }))

        it.effect("another member gets the standard 404, by id and by owner/name", () =>
          Effect.gen(function*() {
            const owner = yield* createUser()
            const other = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(owner, template.versionId)
            for (
              const path of [
                `/api/v2/tasks/me/${task.id}`,
                `/api/v2/tasks/${owner.username}/${task.id}`,
                `/api/v2/tasks/${owner.username}/${task.name}`,
                `/api/v2/tasks/${owner.id}/${task.name}`
              ]
            ) {
              const response = yield* request("GET", path, { token: other.token })
              assert.strictEqual(response.status, 404, path)
              assert.deepStrictEqual(response.json, standard404, path)
            }
            // The site owner may read it.
            const admin = yield* request("GET", `/api/v2/tasks/${owner.username}/${task.name}`, {
              token: yield* adminToken
            })
            assert.strictEqual(admin.status, 200)
            assert.strictEqual(admin.json.id, task.id)
          }))

        it.effect("an unknown task is the standard 404; an unknown user a 400", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const missing = yield* request("GET", `/api/v2/tasks/me/${randomUUID()}`, { token: user.token })
            assert.strictEqual(missing.status, 404)
            assert.deepStrictEqual(missing.json, standard404)
            const byName = yield* request("GET", `/api/v2/tasks/me/no-such-task`, { token: user.token })
            assert.deepStrictEqual(byName.json, standard404)
            const noUser = yield* request("GET", `/api/v2/tasks/nobody-at-all/no-such-task`, { token: user.token })
            assert.strictEqual(noUser.status, 400)
            assert.strictEqual(noUser.json.message, `"user" must be an existing uuid or username.`)
          }))

        it.effect("current_state: complete/\"all done\" survives a stop, and a new start replaces it", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { agentToken: token, task } = yield* createActiveTask(user, template.versionId, record)
            assert.isNull(task.current_state)
            const agent = yield* TestServer.clientFor(token)
            yield* agent.agent.appStatus({
              payload: { app_slug: "task-app", state: "complete", message: "all done", uri: "" }
            })
            const client = yield* TestServer.clientFor(user.token)
            const done = yield* client.tasks.get({ params: { user: "me", task: task.id } })
            assert.strictEqual(done.current_state?.state, "complete")
            assert.strictEqual(done.current_state?.message, "all done")
            assert.strictEqual(done.current_state?.uri, "")

            const { task: paused } = yield* pauseTask(user.token, task.id)
            assert.strictEqual(paused.current_state?.state, "complete")
            assert.strictEqual(paused.current_state?.message, "all done")
            assert.deepStrictEqual(paused.current_state, done.current_state)

            const starts = record.starts.filter((spec) => spec.taskId === task.id).length
            yield* client.tasks.resume({ params: { user: "me", task: task.id } })
            yield* agentToken(record, task.id, starts)
            const resumed = yield* waitForStatus(user.token, task.id, "initializing")
            assert.strictEqual(resumed.current_state?.state, "working")
            assert.notStrictEqual(resumed.current_state?.message, "all done")
            assert.include(initializingMessages, resumed.current_state?.message)
            assert.strictEqual(resumed.current_state?.uri, "")
            assert.isTrue(resumed.current_state!.timestamp.getTime() >= done.current_state!.timestamp.getTime())
          }))

        it.effect("the /api/experimental alias answers the same GET", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { task } = yield* createActiveTask(user, template.versionId, record)
            const client = yield* TestServer.clientFor(user.token)
            const stable = yield* client.tasks.get({ params: { user: "me", task: task.id } })
            const experimental = yield* client.experimentalTasks.get({ params: { user: "me", task: task.id } })
            assert.deepStrictEqual(experimental, stable)
            const byName = yield* client.experimentalTasks.get({ params: { user: user.username, task: task.name } })
            assert.deepStrictEqual(byName, stable)
            const raw = yield* request("GET", `/api/experimental/tasks/me/${task.id}`, { token: user.token })
            const rawStable = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(raw.status, 200)
            assert.strictEqual(raw.text, rawStable.text)
            const other = yield* createUser()
            const hidden = yield* request("GET", `/api/experimental/tasks/me/${task.id}`, { token: other.token })
            assert.strictEqual(hidden.status, 404)
            assert.deepStrictEqual(hidden.json, standard404)
          }))
      })

      describe("Delete", () => {
        it.effect("OK: 202 with no body, then the task is gone and its workspace is deleted", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId)
            yield* waitForBuildDone(user.token, task.id)
            const response = yield* request("DELETE", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(response.status, 202)
            assert.strictEqual(response.text, "")
            const byId = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(byId.status, 404)
            assert.deepStrictEqual(byId.json, standard404)
            const byName = yield* request("GET", `/api/v2/tasks/me/${task.name}`, { token: user.token })
            assert.strictEqual(byName.status, 404)
            const listed = yield* list(user.token, "owner:me")
            assert.deepStrictEqual(listed.json, { tasks: [], count: 0 })
            const again = yield* request("DELETE", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(again.status, 404)
            // The delete build runs: the provisioner is told to stop the workspace.
            yield* pollUntil(
              Effect.sync(() => record.stops),
              (stops) => stops.includes(task.workspace_id!),
              () => `the provisioner never stopped workspace ${task.workspace_id}`
            )
            assert.include(record.stops, task.workspace_id)
          }))

        it.effect("NotFound: a random UUID is the standard 404", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const response = yield* request("DELETE", `/api/v2/tasks/me/${randomUUID()}`, { token: user.token })
            assert.strictEqual(response.status, 404)
            assert.deepStrictEqual(response.json, standard404)
          }))

        it.effect("UnauthorizedUserCannotDeleteOthersTask: 404, and the task stays", () =>
          Effect.gen(function*() {
            const owner = yield* createUser()
            const other = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(owner, template.versionId)
            yield* waitForBuildDone(owner.token, task.id)
            for (const path of [`/api/v2/tasks/me/${task.id}`, `/api/v2/tasks/${owner.username}/${task.name}`]) {
              const response = yield* request("DELETE", path, { token: other.token })
              assert.strictEqual(response.status, 404, path)
              assert.deepStrictEqual(response.json, standard404)
            }
            const still = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: owner.token })
            assert.strictEqual(still.status, 200)
            assert.strictEqual(still.json.workspace_build_number, 1)
          }))

        it.effect("DeletedTask: the agent token of the task's workspace stops working (401)", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { agentToken: token, task } = yield* createActiveTask(user, template.versionId, record)
            const before = yield* request("GET", "/api/v2/workspaceagents/me/manifest", { token })
            assert.strictEqual(before.status, 200)
            const response = yield* request("DELETE", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(response.status, 202)
            const manifest = yield* request("GET", "/api/v2/workspaceagents/me/manifest", { token })
            assert.strictEqual(manifest.status, 401)
            assert.strictEqual(manifest.json.message, "Workspace agent not authorized.")
            const lifecycle = yield* request("POST", "/api/v2/workspaceagents/me/report-lifecycle", {
              token,
              body: JSON.stringify({ state: "ready" })
            })
            assert.strictEqual(lifecycle.status, 401)
            const late = yield* upload(token, task.id, snapshotBody("late"))
            assert.strictEqual(late.status, 401)
          }))

        it.effect("SnapshotCleanupOnDeletion and PreservesOtherTaskSnapshots", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const a = yield* createActiveTask(user, template.versionId, record)
            const b = yield* createActiveTask(user, template.versionId, record)
            for (const [task, token] of [[a.task, a.agentToken], [b.task, b.agentToken]] as const) {
              const uploaded = yield* upload(token, task.id, snapshotBody(task.name))
              assert.strictEqual(uploaded.status, 204)
              assert.isDefined(yield* storedSnapshot(task.id))
            }
            const response = yield* request("DELETE", `/api/v2/tasks/me/${a.task.id}`, { token: user.token })
            assert.strictEqual(response.status, 202)
            assert.isUndefined(yield* storedSnapshot(a.task.id))
            const kept = yield* storedSnapshot(b.task.id)
            assert.deepStrictEqual((kept?.log_snapshot as any)?.data.messages[0].content, b.task.name)
            // Still so once the delete build has run.
            yield* waitForTask(user.token, b.task.id, () => record.stops.includes(a.task.workspace_id!), "a stopped")
            assert.isDefined(yield* storedSnapshot(b.task.id))
          }))

        it.effect("DeletionWithoutSnapshot: 202", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { task } = yield* createActiveTask(user, template.versionId, record)
            assert.isUndefined(yield* storedSnapshot(task.id))
            const response = yield* request("DELETE", `/api/v2/tasks/${user.id}/${task.name}`, { token: user.token })
            assert.strictEqual(response.status, 202)
          }))
      })

      describe("UpdateInput", () => {
        const update = (token: string, taskId: string, input: unknown) =>
          request("PATCH", `/api/v2/tasks/me/${taskId}/input`, { token, body: JSON.stringify({ input }) })

        it.effect("TaskStatusPaused: 204 and initial_prompt is the untrimmed input", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId, { input: "the old prompt" })
            yield* pauseTask(user.token, task.id)
            const response = yield* update(user.token, task.id, "  the new prompt\n")
            assert.strictEqual(response.status, 204)
            assert.strictEqual(response.text, "")
            const client = yield* TestServer.clientFor(user.token)
            const updated = yield* client.tasks.get({ params: { user: "me", task: task.id } })
            assert.strictEqual(updated.initial_prompt, "  the new prompt\n")
            // The typed client, too.
            yield* client.tasks.updateInput({ params: { user: "me", task: task.name }, payload: { input: "third" } })
            const third = yield* client.tasks.get({ params: { user: "me", task: task.id } })
            assert.strictEqual(third.initial_prompt, "third")
            // A resume starts the workspace with the new prompt.
            const starts = record.starts.filter((spec) => spec.taskId === task.id).length
            yield* client.tasks.resume({ params: { user: "me", task: task.id } })
            yield* agentToken(record, task.id, starts)
            assert.strictEqual(record.starts.filter((spec) => spec.taskId === task.id).at(-1)?.prompt, "third")
          }))

        it.effect("EmptyPrompt: 400 Task input is required., and the prompt is unchanged", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId, { input: "keep me" })
            yield* pauseTask(user.token, task.id)
            for (const input of ["", "   ", "\n\t "]) {
              const response = yield* update(user.token, task.id, input)
              assert.strictEqual(response.status, 400)
              assert.deepStrictEqual(response.json, { message: "Task input is required." })
            }
            const missing = yield* request("PATCH", `/api/v2/tasks/me/${task.id}/input`, {
              token: user.token,
              body: "{}"
            })
            assert.strictEqual(missing.status, 400)
            const got = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(got.json.initial_prompt, "keep me")
          }))

        it.effect("a task that is not paused (initializing, active): 409, and the prompt is unchanged", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId, { input: "unchanged" })
            const token = yield* agentToken(record, task.id)
            yield* waitForStatus(user.token, task.id, "initializing")
            const initializing = yield* update(user.token, task.id, "new")
            assert.strictEqual(initializing.status, 409)
            yield* actAsAgent(token, { lifecycle: "ready", health: "healthy" })
            yield* waitForStatus(user.token, task.id, "active")
            const active = yield* update(user.token, task.id, "new")
            assert.strictEqual(active.status, 409)
            assert.deepStrictEqual(active.json, {
              message: "Unable to update task input, task must be paused.",
              detail: "Please stop the task's workspace before updating the input."
            })
            const got = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(got.json.initial_prompt, "unchanged")
          }))

        it.effect("TaskDeleted: 404", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId)
            yield* pauseTask(user.token, task.id)
            const deleted = yield* request("DELETE", `/api/v2/tasks/me/${task.id}`, { token: user.token })
            assert.strictEqual(deleted.status, 202)
            const response = yield* update(user.token, task.id, "too late")
            assert.strictEqual(response.status, 404)
            assert.deepStrictEqual(response.json, standard404)
          }))

        it.effect("NonExistentTask and UnauthorizedUser: 404, and the prompt is unchanged", () =>
          Effect.gen(function*() {
            const owner = yield* createUser()
            const other = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(owner, template.versionId, { input: "mine" })
            yield* pauseTask(owner.token, task.id)
            const missing = yield* request("PATCH", `/api/v2/tasks/${owner.id}/${randomUUID()}/input`, {
              token: owner.token,
              body: JSON.stringify({ input: "x" })
            })
            assert.strictEqual(missing.status, 404)
            assert.deepStrictEqual(missing.json, standard404)
            const stranger = yield* update(other.token, task.id, "theirs")
            assert.strictEqual(stranger.status, 404)
            assert.deepStrictEqual(stranger.json, standard404)
            const got = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: owner.token })
            assert.strictEqual(got.json.initial_prompt, "mine")
          }))
      })
    }
  )

  // A server whose job runner never runs a job, so a task stays pending ("provisioner closed").
  layer(TestServer.layer(backend).pipe(Layer.provide(noJobWorkers)), {
    timeout: 120_000,
    excludeTestServices: true
  })(`TestTasks, builds stay queued [${backend.name}]`, (it) => {
    it.effect("UpdateInput TaskStatusPending: 409 Unable to update, and the prompt is unchanged", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const template = yield* createTemplate()
        const task = yield* createTask(user, template.versionId, { input: "pending prompt" })
        assert.strictEqual(task.status, "pending")
        const response = yield* request("PATCH", `/api/v2/tasks/me/${task.id}/input`, {
          token: user.token,
          body: JSON.stringify({ input: "new prompt" })
        })
        assert.strictEqual(response.status, 409)
        assert.deepStrictEqual(response.json, {
          message: "Unable to update task input, task must be paused.",
          detail: "Please stop the task's workspace before updating the input."
        })
        const got = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
        assert.strictEqual(got.json.initial_prompt, "pending prompt")
        assert.strictEqual(got.json.status, "pending")
      }))
  })
}
