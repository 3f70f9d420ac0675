/**
 * `POST /api/v2/tasks/{user}` (spec §3.2) against TestTasksCreate (spec §9), through the typed client and,
 * for the exact JSON, raw requests. Runs on the live clock: the job runner really runs the builds.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { adminToken, createTemplate, createUser, uniqueName } from "./support/Fixtures.ts"
import { request } from "./support/Http.ts"
import {
  agentToken,
  createTask,
  goTime,
  nameValid,
  noJobWorkers,
  pollUntil,
  standard404,
  waitForBuildDone,
  waitForStatus,
  withEnv
} from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

const pollingHard = withEnv({ TASKD_JOB_POLL: "5 millis" })

/** Every key of codersdk.Task, in Go's field order (spec §4.1). */
const taskKeys = [
  "id",
  "organization_id",
  "owner_id",
  "owner_name",
  "owner_avatar_url",
  "name",
  "display_name",
  "template_id",
  "template_version_id",
  "template_name",
  "template_display_name",
  "template_icon",
  "workspace_id",
  "workspace_name",
  "workspace_status",
  "workspace_build_number",
  "workspace_agent_id",
  "workspace_agent_lifecycle",
  "workspace_agent_health",
  "workspace_app_id",
  "initial_prompt",
  "status",
  "current_state",
  "created_at",
  "updated_at"
]

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const createRaw = (token: string, body: unknown, user = "me") =>
  request("POST", `/api/v2/tasks/${user}`, { token, body: JSON.stringify(body) })

for (const backend of Backends.all) {
  // A server whose job runner never runs a job: a new task stays exactly as the create answered it.
  layer(TestServer.layer(backend).pipe(Layer.provide(noJobWorkers)), {
    timeout: 120_000,
    excludeTestServices: true
  })(`TestTasksCreate, builds stay queued [${backend.name}]`, (it) => {
    it.effect("OK: 201 with the Task JSON of spec §4.1, key for key", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const template = yield* createTemplate()
        const response = yield* createRaw(user.token, {
          template_version_id: template.versionId,
          input: "Build me a web app"
        })
        assert.strictEqual(response.status, 201)
        assert.match(response.headers["content-type"] ?? "", /^application\/json/)
        const task = response.json
        // omitempty: no avatar for this user; build number 1 and status "pending" are present.
        assert.deepStrictEqual(Object.keys(task), taskKeys.filter((key) => key !== "owner_avatar_url"))
        assert.match(task.id, uuid)
        assert.strictEqual(task.organization_id, template.organizationId)
        assert.strictEqual(task.owner_id, user.id)
        assert.strictEqual(task.owner_name, user.username)
        assert.isTrue(task.name.length > 0)
        assert.isTrue(nameValid(task.name), `generated name ${task.name} is not a valid name`)
        assert.match(task.name, /^build-me-a-web-app-[0-9a-f]{4}$/)
        assert.strictEqual(task.display_name, "Build me a web app")
        assert.strictEqual(task.template_id, template.templateId)
        assert.strictEqual(task.template_version_id, template.versionId)
        assert.isString(task.template_name)
        assert.isString(task.template_display_name)
        assert.isString(task.template_icon)
        assert.match(task.workspace_id, uuid)
        assert.strictEqual(task.workspace_name, task.name)
        assert.strictEqual(task.workspace_status, "pending")
        assert.strictEqual(task.workspace_build_number, 1)
        assert.isNull(task.workspace_agent_id)
        assert.isNull(task.workspace_agent_lifecycle)
        assert.isNull(task.workspace_agent_health)
        assert.isNull(task.workspace_app_id)
        assert.strictEqual(task.initial_prompt, "Build me a web app")
        assert.strictEqual(task.status, "pending")
        assert.isNull(task.current_state)
        assert.match(task.created_at, goTime)
        assert.match(task.updated_at, goTime)
        assert.notInclude(response.text, ".000")

        // GET shows the same object while the build is queued.
        const got = yield* request("GET", `/api/v2/tasks/me/${task.id}`, { token: user.token })
        assert.strictEqual(got.status, 200)
        assert.deepStrictEqual(got.json, task)
      }))

    it.effect("the body is decoded as Go does (spec §1.3): keys match case-insensitively, null is the zero value", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const template = yield* createTemplate()
        // A missing version is the zero UUID in Go, which no template version has.
        const missing = yield* createRaw(user.token, { input: "x" })
        assert.strictEqual(missing.status, 400)
        assert.deepStrictEqual(missing.json, {
          message: "Template version not found or you do not have access to this resource"
        })
        const upperKeys = yield* request("POST", "/api/v2/tasks/me", {
          token: user.token,
          body: JSON.stringify({ Template_Version_ID: template.versionId, Name: "upper-keys", INPUT: "shout" })
        })
        assert.strictEqual(upperKeys.status, 201, upperKeys.text)
        assert.strictEqual(upperKeys.json.name, "upper-keys")
        assert.strictEqual(upperKeys.json.initial_prompt, "shout")
        const nulls = yield* createRaw(user.token, {
          template_version_id: template.versionId,
          input: "null fields",
          name: null,
          display_name: null
        })
        assert.strictEqual(nulls.status, 201, nulls.text)
        assert.match(nulls.json.name, /^null-fields-[0-9a-f]{4}$/)
      }))

    it.effect("input is not validated: an empty prompt is stored and a random name is generated", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const template = yield* createTemplate()
        const response = yield* createRaw(user.token, { template_version_id: template.versionId, input: "" })
        assert.strictEqual(response.status, 201)
        assert.strictEqual(response.json.initial_prompt, "")
        assert.isTrue(nameValid(response.json.name), response.json.name)
        assert.isTrue(response.json.display_name.length > 0)
      }))
  })

  // A job runner that polls every few milliseconds: the start job is claimed as soon as it is committed.
  layer(TestServer.layer(backend).pipe(Layer.provide(pollingHard)), {
    timeout: 120_000,
    excludeTestServices: true
  })(`TestTasksCreate, job runner polling hard [${backend.name}]`, (it) => {
    it.effect("the create always answers pending, however fast the job runner claims the start job", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const template = yield* createTemplate()
        const statuses: Array<string> = []
        for (let i = 0; i < 20; i++) {
          const response = yield* createRaw(user.token, { template_version_id: template.versionId, input: `n ${i}` })
          assert.strictEqual(response.status, 201)
          statuses.push(response.json.status)
        }
        assert.deepStrictEqual(statuses.filter((status) => status !== "pending"), [])
      }))
  })

  const { layer: provisioner, record } = Workspaces.recording()
  layer(TestServer.layer(backend, { provisioner }), { timeout: 120_000, excludeTestServices: true })(
    `TestTasksCreate [${backend.name}]`,
    (it) => {
      it.effect("OK on the running server: 201 pending, then the job runner starts the workspace", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTask(user, template.versionId, { input: "fix the bug" })
          assert.strictEqual(task.template_id, template.templateId)
          assert.strictEqual(task.template_version_id, template.versionId)
          assert.strictEqual(task.workspace_name, task.name)
          assert.include(["pending", "initializing"], task.status)
          const initializing = yield* waitForStatus(user.token, task.id, "initializing")
          assert.strictEqual(initializing.workspace_id, task.workspace_id)
          yield* agentToken(record, task.id)
          const started = record.starts.filter((spec) => spec.taskId === task.id)
          assert.strictEqual(started.length, 1)
          assert.strictEqual(started[0]!.workspaceId, task.workspace_id)
          assert.strictEqual(started[0]!.prompt, "fix the bug")
          assert.strictEqual(started[0]!.buildNumber, 1)
        }))

      describe("CustomNames", () => {
        const seventy = "a".repeat(70)
        const cases: ReadonlyArray<{
          readonly name: string
          readonly taskName?: string
          readonly displayName?: string
          readonly error?: string
          readonly expectName?: "kept" | "generated"
          readonly expectDisplayName?: "kept" | "generated"
        }> = [
          { name: "ValidName", taskName: "a-valid-name", expectName: "kept", expectDisplayName: "generated" },
          {
            name: "NotValidName",
            taskName: "this is not a valid task name",
            error: "Unable to create a Task with the provided name."
          },
          { name: "NoNameProvided", displayName: "A valid task", expectName: "generated", expectDisplayName: "kept" },
          {
            name: "ValidDisplayName",
            displayName: "My Display Name",
            expectName: "generated",
            expectDisplayName: "kept"
          },
          { name: "NotValidDisplayName", displayName: seventy, error: "Display name must be 64 characters or less." },
          {
            name: "NoDisplayNameProvided",
            taskName: "a-name-only",
            expectName: "kept",
            expectDisplayName: "generated"
          },
          {
            name: "ValidNameAndDisplayName",
            taskName: "both-given",
            displayName: "Both Given",
            expectName: "kept",
            expectDisplayName: "kept"
          },
          { name: "NoNameAndDisplayNameProvided", expectName: "generated", expectDisplayName: "generated" }
        ]
        for (const tc of cases) {
          it.effect(tc.name, () =>
            Effect.gen(function*() {
              const user = yield* createUser()
              const template = yield* createTemplate()
              const response = yield* createRaw(user.token, {
                template_version_id: template.versionId,
                input: "Some task prompt",
                ...(tc.taskName === undefined ? {} : { name: tc.taskName }),
                ...(tc.displayName === undefined ? {} : { display_name: tc.displayName })
              })
              if (tc.error !== undefined) {
                assert.strictEqual(response.status, 400)
                assert.strictEqual(response.json.message, tc.error)
                const list = yield* request("GET", "/api/v2/tasks?q=owner:me", { token: user.token })
                assert.strictEqual(list.json.count, 0)
                return
              }
              assert.strictEqual(response.status, 201)
              const task = response.json
              assert.isTrue(nameValid(task.name), `name ${JSON.stringify(task.name)} is not valid`)
              assert.isTrue(task.name.length > 0 && task.display_name.length > 0)
              if (tc.expectName === "kept") assert.strictEqual(task.name, tc.taskName)
              else assert.match(task.name, /^some-task-prompt-[0-9a-f]{4}$/)
              if (tc.expectDisplayName === "kept") assert.strictEqual(task.display_name, tc.displayName)
              else assert.strictEqual(task.display_name, "Some task prompt")
            }))
        }

        it.effect("NotValidName: the detail gives NameValid's reason", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const spaces = yield* createRaw(user.token, {
              template_version_id: template.versionId,
              name: "this is not a valid task name"
            })
            assert.deepStrictEqual(spaces.json, {
              message: "Unable to create a Task with the provided name.",
              detail: "must be alphanumeric with hyphens"
            })
            const long = yield* createRaw(user.token, { template_version_id: template.versionId, name: "a".repeat(33) })
            assert.strictEqual(long.status, 400)
            assert.strictEqual(long.json.detail, "must be <= 32 characters")
            const reserved = yield* createRaw(user.token, { template_version_id: template.versionId, name: "new" })
            assert.strictEqual(reserved.status, 400)
            assert.strictEqual(reserved.json.detail, `cannot use "new" as a name`)
          }))

        it.effect("display name: trimmed, and limited to 64 bytes (not characters)", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const padded = yield* createRaw(user.token, {
              template_version_id: template.versionId,
              display_name: "   Padded name  "
            })
            assert.strictEqual(padded.status, 201)
            assert.strictEqual(padded.json.display_name, "Padded name")
            const exactly64 = yield* createRaw(user.token, {
              template_version_id: template.versionId,
              display_name: "b".repeat(64)
            })
            assert.strictEqual(exactly64.status, 201)
            const multiByte = yield* createRaw(user.token, {
              template_version_id: template.versionId,
              display_name: "é".repeat(33)
            })
            assert.strictEqual(multiByte.status, 400)
            assert.deepStrictEqual(multiByte.json, { message: "Display name must be 64 characters or less." })
          }))
      })

      it.effect("FailsOnNonTaskTemplate: 400 for a template without coder_ai_task", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate({ has_ai_task: false })
          const response = yield* createRaw(user.token, { template_version_id: template.versionId, input: "x" })
          assert.strictEqual(response.status, 400)
          assert.deepStrictEqual(response.json, { message: `Template does not have a valid "coder_ai_task" resource.` })
        }))

      it.effect("FailsOnInvalidTemplate: 400 for a random template version", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const response = yield* createRaw(user.token, { template_version_id: randomUUID(), input: "x" })
          assert.strictEqual(response.status, 400)
          assert.deepStrictEqual(response.json, {
            message: "Template version not found or you do not have access to this resource"
          })
        }))

      it.effect("TaskTableCreatedAndLinked: the row has org, owner, name, workspace, version and prompt", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTask(user, template.versionId, { input: "link me" })
          const sql = yield* SqlClient.SqlClient
          const [row] = yield* sql<{
            organization_id: string
            owner_id: string
            name: string
            workspace_id: string | null
            template_version_id: string
            prompt: string
            deleted_at: Date | null
          }>`SELECT organization_id, owner_id, name, workspace_id, template_version_id, prompt, deleted_at
           FROM tasks WHERE id = ${task.id}`
          assert.deepStrictEqual(row, {
            organization_id: template.organizationId,
            owner_id: user.id,
            name: task.name,
            workspace_id: task.workspace_id,
            template_version_id: template.versionId,
            prompt: "link me",
            deleted_at: null
          })
          const [workspace] = yield* sql<{ name: string; template_id: string; owner_id: string }>`
          SELECT name, template_id, owner_id FROM workspaces WHERE id = ${task.workspace_id}`
          assert.deepStrictEqual(workspace, { name: task.name, template_id: template.templateId, owner_id: user.id })
        }))

      it.effect("TaskWithCustomName: my-custom-task is kept, and the task is found by that name", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTask(user, template.versionId, { name: "my-custom-task" })
          assert.strictEqual(task.name, "my-custom-task")
          assert.strictEqual(task.workspace_name, "my-custom-task")
          const client = yield* TestServer.clientFor(user.token)
          const byName = yield* client.tasks.get({ params: { user: user.username, task: "my-custom-task" } })
          assert.strictEqual(byName.id, task.id)
        }))

      it.effect("MultipleTasksForSameUser: task-1 and task-2 are both listed", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const first = yield* createTask(user, template.versionId, { name: "task-1" })
          const second = yield* createTask(user, template.versionId, { name: "task-2" })
          const client = yield* TestServer.clientFor(user.token)
          const list = yield* client.tasks.list({ query: { q: "owner:me" } })
          assert.strictEqual(list.count, 2)
          assert.sameMembers(list.tasks.map((task) => task.id), [first.id, second.id])
          assert.sameMembers(list.tasks.map((task) => task.name), ["task-1", "task-2"])
        }))

      it.effect("TaskLinkedToCorrectTemplateVersion: a non-active version 2 is the task's version", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const admin = yield* TestServer.clientFor(yield* adminToken)
          const v2 = yield* admin.templates.createVersion({
            params: { template: template.templateId },
            payload: { has_ai_task: true }
          })
          assert.notStrictEqual(v2.id, template.versionId)
          const task = yield* createTask(user, v2.id)
          assert.strictEqual(task.template_version_id, v2.id)
          assert.strictEqual(task.template_id, template.templateId)
          const sql = yield* SqlClient.SqlClient
          const [row] = yield* sql<{ template_version_id: string }>`
          SELECT template_version_id FROM tasks WHERE id = ${task.id}`
          assert.strictEqual(row!.template_version_id, v2.id)
          const [build] = yield* sql<{ template_version_id: string }>`
          SELECT template_version_id FROM workspace_builds WHERE workspace_id = ${task.workspace_id}`
          assert.strictEqual(build!.template_version_id, v2.id)
          // The template's active version is still version 1.
          const other = yield* createTask(user, template.versionId)
          assert.strictEqual(other.template_version_id, template.versionId)
        }))

      it.effect("a name in use by a live task of the same owner is a 409 with a clear message, case-insensitively", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const name = uniqueName("dup")
          yield* createTask(user, template.versionId, { name })
          const again = yield* createRaw(user.token, { template_version_id: template.versionId, name })
          assert.strictEqual(again.status, 409)
          assert.strictEqual(again.json.message, `A task named ${JSON.stringify(name)} already exists.`)
          const upper = yield* createRaw(user.token, {
            template_version_id: template.versionId,
            name: name.toUpperCase()
          })
          assert.strictEqual(upper.status, 409)
          assert.include(upper.json.message, "already exists")
          const list = yield* request("GET", "/api/v2/tasks?q=owner:me", { token: user.token })
          assert.strictEqual(list.json.count, 1)

          // Another owner may use the name.
          const other = yield* createUser()
          const theirs = yield* createRaw(other.token, { template_version_id: template.versionId, name })
          assert.strictEqual(theirs.status, 201)
        }))

      it.effect("the name of a deleted task can be used again once its workspace is deleted", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const name = uniqueName("reuse")
          const first = yield* createTask(user, template.versionId, { name })
          // A delete while the start build is still pending or running is a 409; wait until it finished.
          yield* waitForBuildDone(user.token, first.id)
          const deleted = yield* request("DELETE", `/api/v2/tasks/me/${first.id}`, { token: user.token })
          assert.strictEqual(deleted.status, 202)
          const again = yield* pollUntil(
            createRaw(user.token, { template_version_id: template.versionId, name }),
            (response) => response.status !== 409,
            (last) => `the name stayed taken: ${last?.text}`
          )
          assert.strictEqual(again.status, 201)
          assert.notStrictEqual(again.json.id, first.id)
          assert.strictEqual(again.json.name, name)
        }))

      it.effect("{user}: a member cannot create for another member (404); an owner can", () =>
        Effect.gen(function*() {
          const member = yield* createUser()
          const other = yield* createUser()
          const template = yield* createTemplate()
          const forbidden = yield* createRaw(member.token, { template_version_id: template.versionId }, other.username)
          assert.strictEqual(forbidden.status, 404)
          assert.deepStrictEqual(forbidden.json, standard404)
          const admin = yield* adminToken
          const forOther = yield* createRaw(admin, { template_version_id: template.versionId }, other.username)
          assert.strictEqual(forOther.status, 201)
          assert.strictEqual(forOther.json.owner_id, other.id)
          assert.strictEqual(forOther.json.owner_name, other.username)
          const unknown = yield* createRaw(member.token, { template_version_id: template.versionId }, "nobody-here")
          assert.strictEqual(unknown.status, 400)
          assert.deepStrictEqual(unknown.json, {
            message: `"user" must be an existing uuid or username.`,
            detail: `queried user="nobody-here"`
          })
        }))

      it.effect("invalid JSON is a 400 with Coder's message", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const response = yield* request("POST", "/api/v2/tasks/me", { token: user.token, body: "{not json" })
          assert.strictEqual(response.status, 400)
          assert.strictEqual(response.json.message, "Request body must be valid JSON.")
        }))
    }
  )
}
