/**
 * Unit tier: the task commands (src/Tasks/TaskCommands.ts): which check wins when several fail, what is
 * written, in which transaction, and when the job runner is woken. TaskRepo, BuildRepo, TemplateRepo,
 * UserRepo and JobSignal are recording stubs; the SqlClient has no database (it records BEGIN/COMMIT/
 * ROLLBACK). Spec §3.2 (create), §3.4 (delete), §3.5 (input), §3.9 (pause; resume as its mirror).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import type { CreateTaskRequest, WorkspaceBuild } from "../../src/Domain/Task.ts"
import type { User } from "../../src/Domain/User.ts"
import { JobSignal } from "../../src/Provisioner/JobRunner.ts"
import { TaskCommands } from "../../src/Tasks/TaskCommands.ts"
import { generateTaskName } from "../../src/Tasks/TaskName.ts"
import { TaskNameTaken, TaskRepo, WorkspaceNameTaken } from "../../src/Tasks/TaskRepo.ts"
import { TemplateRepo, type TemplateVersionRow } from "../../src/Templates/TemplateRepo.ts"
import { UserRepo } from "../../src/Users/UserRepo.ts"
import { BuildInProgress, BuildRepo, type NewBuild } from "../../src/Workspaces/BuildRepo.ts"
import { activeRow, admin, alice, ids, Journal, member, recordingSql, unused } from "./Stubs.ts"

const now = Date.parse("2025-09-25T12:00:00.000Z")

const bob: User = { ...alice, id: "bbbbbbbb-0000-4000-8000-000000000002", username: "bob", email: "bob@example.com" }

const version: TemplateVersionRow = {
  id: ids.version,
  template_id: ids.template,
  organization_id: ids.organization,
  has_ai_task: true,
  app_url: "http://localhost:3284",
  agent_command: ""
}

interface Script {
  /** What BuildRepo.insert answers: a build (default) or "in progress". */
  readonly build?: "ok" | "in-progress"
  readonly version?: TemplateVersionRow | undefined
  readonly member?: boolean
  readonly insertTask?: "ok" | "task-name-taken" | "workspace-name-taken"
  readonly readBack?: "found" | "missing"
  readonly paused?: boolean
}

const buildOf = (build: NewBuild): WorkspaceBuild => ({
  id: "bd000000-0000-4000-8000-000000000000",
  created_at: new Date(now),
  updated_at: new Date(now),
  workspace_id: build.workspaceId,
  workspace_name: "ws",
  workspace_owner_id: ids.owner,
  template_version_id: build.templateVersionId ?? ids.version,
  build_number: 2,
  transition: build.transition,
  initiator_id: build.initiatorId,
  reason: build.reason,
  job_status: "pending",
  status: "pending"
})

/** The stubs, all writing to one journal, over the real TaskCommands (its layer without dependencies). */
const stubs = (journal: Journal, script: Script = {}) =>
  Layer.mergeAll(
    recordingSql(journal),
    Layer.succeed(JobSignal, JobSignal.of({ notify: Effect.sync(() => journal.add("notify")) })),
    Layer.succeed(
      TaskRepo,
      TaskRepo.of({
        findById: (id, visibility) =>
          journal.record(
            `TaskRepo.findById(${
              /^[0-9a-f-]{36}$/.test(id) ? "<new>" : id
            }, ${visibility.userId}, ${visibility.seesAll})`,
            Effect.succeed(script.readBack === "missing" ? undefined : activeRow({ id, status: "pending" }))
          ),
        findByOwnerAndName: unused("TaskRepo.findByOwnerAndName"),
        list: unused("TaskRepo.list"),
        insertWithWorkspace: (task) =>
          journal.record(
            `TaskRepo.insertWithWorkspace(${task.ownerId}, ${task.name}, ${task.displayName}, ${task.templateVersionId}, ` +
              `${task.templateId}, ${task.organizationId}, ${
                JSON.stringify(task.prompt)
              }, ${task.createdAt.toISOString()})`,
            script.insertTask === "task-name-taken"
              ? Effect.fail<TaskNameTaken | WorkspaceNameTaken>(new TaskNameTaken({ name: task.name }))
              : script.insertTask === "workspace-name-taken"
              ? Effect.fail(new WorkspaceNameTaken({ name: task.name }))
              : Effect.void
          ),
        softDelete: (id, deletedAt) =>
          journal.record(`TaskRepo.softDelete(${id}, ${deletedAt.toISOString()})`, Effect.void),
        updatePromptIfPaused: (id, prompt) =>
          journal.record(
            `TaskRepo.updatePromptIfPaused(${id}, ${JSON.stringify(prompt)})`,
            Effect.succeed(script.paused ?? true)
          )
      })
    ),
    Layer.succeed(
      BuildRepo,
      BuildRepo.of({
        insert: (build) =>
          journal.record(
            `BuildRepo.insert(${build.workspaceId}, ${build.transition}, ${build.reason}, ${build.initiatorId}` +
              `${build.templateVersionId === undefined ? "" : `, ${build.templateVersionId}`})`,
            script.build === "in-progress"
              ? Effect.fail(new BuildInProgress({ workspaceId: build.workspaceId }))
              : Effect.succeed(buildOf(build))
          ),
        findBuild: unused("BuildRepo.findBuild")
      })
    ),
    Layer.succeed(
      TemplateRepo,
      TemplateRepo.of({
        findVersion: (id) =>
          journal.record(
            `TemplateRepo.findVersion(${id})`,
            Effect.succeed("version" in script ? script.version : version)
          ),
        create: unused("TemplateRepo.create"),
        findById: unused("TemplateRepo.findById"),
        list: unused("TemplateRepo.list"),
        addVersion: unused("TemplateRepo.addVersion")
      })
    ),
    Layer.succeed(
      UserRepo,
      UserRepo.of({
        isMember: (organizationId, userId) =>
          journal.record(`UserRepo.isMember(${organizationId}, ${userId})`, Effect.succeed(script.member ?? true)),
        findById: unused("UserRepo.findById"),
        findByUsername: unused("UserRepo.findByUsername"),
        insert: unused("UserRepo.insert"),
        findOrganizationByName: unused("UserRepo.findOrganizationByName"),
        findOrganization: unused("UserRepo.findOrganization"),
        defaultOrganization: Effect.die(new Error("UserRepo.defaultOrganization was not expected to be called")),
        list: Effect.die(new Error("UserRepo.list was not expected to be called"))
      })
    )
  )

/** Runs `f` with TaskCommands over the stubs: its outcome in Coder's terms, and the journal. */
const run = <A>(
  f: (
    commands: TaskCommands["Service"]
  ) => Effect.Effect<A, { readonly _tag: string; readonly message: string; readonly detail?: string | undefined }>,
  script: Script = {}
) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(now)
    const journal = new Journal()
    const result = yield* Effect.gen(function*() {
      const commands = yield* TaskCommands
      return yield* f(commands)
    }).pipe(
      Effect.match({
        onFailure: (error) =>
          error.detail === undefined
            ? { _tag: error._tag, message: error.message }
            : { _tag: error._tag, message: error.message, detail: error.detail },
        onSuccess: (value) => ({ ok: value })
      }),
      Effect.provide(TaskCommands.layerNoDeps.pipe(Layer.provide(stubs(journal, script))))
    )
    return { result, journal: journal.entries }
  })

const buildActive = {
  _tag: "Conflict",
  message: "A workspace build is already active.",
  detail: "Wait for the current build of the task's workspace to finish, then try again."
}

const paused = activeRow({ status: "paused", latest_build_transition: "stop", latest_build_job_status: "succeeded" })
const running = activeRow()
const at = new Date(now).toISOString()

describe("pause (spec §3.9)", () => {
  it.effect("queues a stop build (task_manual_pause) in a transaction, then wakes the job runner", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.pause(member, running))
      assert.deepStrictEqual(journal, [
        "sql:BEGIN",
        `BuildRepo.insert(${ids.workspace}, stop, task_manual_pause, ${member.id})`,
        "sql:COMMIT",
        "notify"
      ])
      assert.strictEqual("ok" in result && result.ok.transition, "stop")
      assert.strictEqual("ok" in result && result.ok.reason, "task_manual_pause")
    }))

  it.effect("an already paused task is 409 before anything is written (no transaction, no wake-up)", () =>
    Effect.gen(function*() {
      // Even if a build were in progress, "already paused" wins.
      const { journal, result } = yield* run((commands) => commands.pause(member, paused), { build: "in-progress" })
      assert.deepStrictEqual(result, {
        _tag: "Conflict",
        message: "Task is already paused.",
        detail: "Resume the task to run it again."
      })
      assert.deepStrictEqual(journal, [])
    }))

  it.effect("a task without a workspace is Coder's 500, before any build", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) =>
        commands.pause(
          member,
          activeRow({ workspace_id: null, latest_build_transition: null, latest_build_job_status: null })
        )
      )
      assert.deepStrictEqual(result, { _tag: "InternalServerError", message: "Task does not have a workspace." })
      assert.deepStrictEqual(journal, [])
    }))

  it.effect("a build in progress is 409; the transaction rolls back and the job runner is not woken", () =>
    Effect.gen(function*() {
      // A stop that is still running is not "paused" yet: the build check answers.
      const stopping = activeRow({
        status: "unknown",
        latest_build_transition: "stop",
        latest_build_job_status: "running"
      })
      const { journal, result } = yield* run((commands) => commands.pause(member, stopping), { build: "in-progress" })
      assert.deepStrictEqual(result, buildActive)
      assert.deepStrictEqual(journal, [
        "sql:BEGIN",
        `BuildRepo.insert(${ids.workspace}, stop, task_manual_pause, ${member.id})`,
        "sql:ROLLBACK"
      ])
    }))

  it.effect("a failed stop is not paused: pausing again queues another stop", () =>
    Effect.gen(function*() {
      const failedStop = activeRow({
        status: "error",
        latest_build_transition: "stop",
        latest_build_job_status: "failed"
      })
      const { result } = yield* run((commands) => commands.pause(member, failedStop))
      assert.strictEqual("ok" in result && result.ok.transition, "stop")
    }))
})

describe("resume (mirror of pause)", () => {
  it.effect("queues a start build (task_resume) for a paused task", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.resume(admin, paused))
      assert.deepStrictEqual(journal, [
        "sql:BEGIN",
        `BuildRepo.insert(${ids.workspace}, start, task_resume, ${admin.id})`,
        "sql:COMMIT",
        "notify"
      ])
      assert.strictEqual("ok" in result && result.ok.initiator_id, admin.id)
    }))

  it.effect("a running task is 409 Task is not paused., with nothing written", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.resume(member, running), { build: "in-progress" })
      assert.deepStrictEqual(result, {
        _tag: "Conflict",
        message: "Task is not paused.",
        detail: "Only a paused task can be resumed."
      })
      assert.deepStrictEqual(journal, [])
    }))

  it.effect("resuming while the stop still runs is the build-in-progress 409", () =>
    Effect.gen(function*() {
      const stopping = activeRow({
        status: "unknown",
        latest_build_transition: "stop",
        latest_build_job_status: "running"
      })
      const { journal, result } = yield* run((commands) => commands.resume(member, stopping), { build: "in-progress" })
      assert.deepStrictEqual(result, buildActive)
      assert.deepStrictEqual(journal.at(-1), "sql:ROLLBACK")
      assert.notInclude(journal, "notify")
    }))
})

describe("delete (spec §3.4)", () => {
  it.effect("queues the delete build, then soft-deletes the task, in one transaction, then wakes the runner", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.remove(member, running))
      assert.deepStrictEqual(result, { ok: undefined })
      assert.deepStrictEqual(journal, [
        "sql:BEGIN",
        `BuildRepo.insert(${ids.workspace}, delete, initiator, ${member.id})`,
        `TaskRepo.softDelete(${ids.task}, ${at})`,
        "sql:COMMIT",
        "notify"
      ])
    }))

  it.effect("a build in progress is 409 and the task is NOT deleted", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.remove(member, running), { build: "in-progress" })
      assert.deepStrictEqual(result, buildActive)
      assert.deepStrictEqual(journal, [
        "sql:BEGIN",
        `BuildRepo.insert(${ids.workspace}, delete, initiator, ${member.id})`,
        "sql:ROLLBACK"
      ])
    }))

  it.effect("a task without a workspace is just soft-deleted", () =>
    Effect.gen(function*() {
      const { journal } = yield* run((commands) => commands.remove(member, activeRow({ workspace_id: null })))
      assert.deepStrictEqual(journal, ["sql:BEGIN", `TaskRepo.softDelete(${ids.task}, ${at})`, "sql:COMMIT", "notify"])
    }))
})

describe("update input (spec §3.5)", () => {
  it.effect("blank input is 400 before the task's status is looked at", () =>
    Effect.gen(function*() {
      for (const input of ["", "   ", "\n\t "]) {
        const { journal, result } = yield* run((commands) => commands.updateInput(running, input), { paused: false })
        assert.deepStrictEqual(
          result,
          { _tag: "BadRequest", message: "Task input is required." },
          JSON.stringify(input)
        )
        assert.deepStrictEqual(journal, [])
      }
    }))

  it.effect("a task that is not paused is 409 with Coder's texts", () =>
    Effect.gen(function*() {
      const { result } = yield* run((commands) => commands.updateInput(running, "new prompt"), { paused: false })
      assert.deepStrictEqual(result, {
        _tag: "Conflict",
        message: "Unable to update task input, task must be paused.",
        detail: "Please stop the task's workspace before updating the input."
      })
    }))

  it.effect("a paused task stores the untrimmed input, checking paused in the same statement", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.updateInput(paused, "  new prompt \n"))
      assert.deepStrictEqual(result, { ok: undefined })
      assert.deepStrictEqual(journal, [`TaskRepo.updatePromptIfPaused(${ids.task}, "  new prompt \\n")`])
    }))
})

const request = (fields: Partial<CreateTaskRequest> = {}): CreateTaskRequest => ({
  template_version_id: ids.version,
  input: "Build me a web app",
  ...fields
})

describe("create (spec §3.2): the checks in Coder's order", () => {
  it.effect("an unknown template version is 400 first, even with a bad name and no permission", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run(
        (commands) => commands.create(member, bob, request({ name: "not a name", display_name: "x".repeat(65) })),
        { version: undefined, member: false }
      )
      assert.deepStrictEqual(result, {
        _tag: "BadRequest",
        message: "Template version not found or you do not have access to this resource"
      })
      assert.deepStrictEqual(journal, [`TemplateRepo.findVersion(${ids.version})`])
    }))

  it.effect("then a template without an AI task", () =>
    Effect.gen(function*() {
      for (const has_ai_task of [false, null]) {
        const { result } = yield* run((commands) => commands.create(member, bob, request({ name: "not a name" })), {
          version: { ...version, has_ai_task },
          member: false
        })
        assert.deepStrictEqual(result, {
          _tag: "BadRequest",
          message: `Template does not have a valid "coder_ai_task" resource.`
        })
      }
    }))

  it.effect("then the name (NameValid), then the display name (64 bytes, after trimming)", () =>
    Effect.gen(function*() {
      const badName = yield* run(
        (commands) =>
          commands.create(
            member,
            bob,
            request({ name: "this is not a valid task name", display_name: "€".repeat(22) })
          ),
        { member: false }
      )
      assert.deepStrictEqual(badName.result, {
        _tag: "BadRequest",
        message: "Unable to create a Task with the provided name.",
        detail: "must be alphanumeric with hyphens"
      })
      // 22 euro signs are 22 characters but 66 bytes: too long, although another user's task (404) too.
      const longDisplay = yield* run(
        (commands) => commands.create(member, bob, request({ display_name: "€".repeat(22) })),
        { member: false }
      )
      assert.deepStrictEqual(longDisplay.result, {
        _tag: "BadRequest",
        message: "Display name must be 64 characters or less."
      })
      const trimmed = yield* run((commands) =>
        commands.create(member, alice, request({ name: "ok-name", display_name: `  ${"d".repeat(64)}  ` }))
      )
      assert.isTrue("ok" in trimmed.result, "64 bytes after trimming is fine")
    }))

  it.effect("then permission: a member creating for someone else, or an owner outside the org, is the standard 404", () =>
    Effect.gen(function*() {
      const notFound = { _tag: "NotFound", message: "Resource not found or you do not have access to this resource" }
      const forOther = yield* run((commands) => commands.create(member, bob, request()))
      assert.deepStrictEqual(forOther.result, notFound)
      assert.deepStrictEqual(forOther.journal, [`TemplateRepo.findVersion(${ids.version})`])
      const outside = yield* run((commands) => commands.create(admin, bob, request()), { member: false })
      assert.deepStrictEqual(outside.result, notFound)
      assert.deepStrictEqual(outside.journal, [
        `TemplateRepo.findVersion(${ids.version})`,
        `UserRepo.isMember(${ids.organization}, ${bob.id})`
      ])
    }))

  it.effect("all checks passed: task + workspace + start build in one transaction, read back inside it, then wake", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) =>
        commands.create(admin, alice, request({ name: "my-task", display_name: " My task " }))
      )
      assert.isTrue("ok" in result)
      assert.deepStrictEqual(journal, [
        `TemplateRepo.findVersion(${ids.version})`,
        `UserRepo.isMember(${ids.organization}, ${alice.id})`,
        "sql:BEGIN",
        `TaskRepo.insertWithWorkspace(${alice.id}, my-task, My task, ${ids.version}, ${ids.template}, ${ids.organization}, ` +
        `"Build me a web app", ${at})`,
        // The new workspace's id is random; only its place in the order matters here.
        journal[4]!,
        `TaskRepo.findById(<new>, ${admin.id}, true)`,
        "sql:COMMIT",
        "notify"
      ])
      assert.match(
        journal[4]!,
        /^BuildRepo\.insert\([0-9a-f-]{36}, start, initiator, 99999999-9999-4999-8999-999999999999, 44444444-/
      )
    }))

  it.effect("a missing name and display name are generated from the prompt", () =>
    Effect.gen(function*() {
      const { journal } = yield* run((commands) =>
        commands.create(member, alice, request({ input: "Fix the login bug, please!" }))
      )
      const insert = journal.find((entry) => entry.startsWith("TaskRepo.insertWithWorkspace"))!
      assert.match(insert, /, fix-the-login-bug-please-[0-9a-f]{4}, Fix the login bug, please!, /)
    }))

  it.effect("name conflicts are 409s with taskd's texts; the transaction rolls back, nothing is woken", () =>
    Effect.gen(function*() {
      const task = yield* run((commands) => commands.create(member, alice, request({ name: "dup" })), {
        insertTask: "task-name-taken"
      })
      assert.deepStrictEqual(task.result, {
        _tag: "Conflict",
        message: `A task named "dup" already exists.`,
        detail: "Task names are unique per owner; choose another name or delete the other task."
      })
      assert.deepStrictEqual(task.journal.slice(-2), [task.journal.at(-2)!, "sql:ROLLBACK"])
      assert.notInclude(task.journal, "notify")
      const workspace = yield* run((commands) => commands.create(member, alice, request({ name: "dup" })), {
        insertTask: "workspace-name-taken"
      })
      assert.strictEqual(
        "message" in workspace.result && workspace.result.message,
        `A workspace named "dup" already exists.`
      )
      assert.strictEqual(workspace.journal.at(-1), "sql:ROLLBACK")
    }))

  it.effect("a task that cannot be read back is Coder's 500, after the commit (the job is queued)", () =>
    Effect.gen(function*() {
      const { journal, result } = yield* run((commands) => commands.create(member, alice, request({ name: "x" })), {
        readBack: "missing"
      })
      assert.deepStrictEqual(result, { _tag: "InternalServerError", message: "Internal error fetching task." })
      assert.deepStrictEqual(journal.slice(-2), ["sql:COMMIT", "notify"])
    }))
})

describe("generated task names (spec §3.2 step 6, offline fallback)", () => {
  it("a slug of the prompt cut to 27 characters on a word, plus a 4-hex suffix; a display name cut to 64", () => {
    const generated = generateTaskName("  Build me a web app with a login page and a dashboard  ")
    assert.match(generated.name, /^build-me-a-web-app-with-a-[0-9a-f]{4}$/)
    assert.strictEqual(generated.displayName, "Build me a web app with a login page and a dashboard")
    const long = generateTaskName("please " + "refactor ".repeat(20))
    assert.isAtMost([...long.displayName].length, 64)
    assert.isTrue(long.displayName.endsWith("…"))
    assert.isAtMost(Buffer.byteLength(long.name), 32)
  })

  it("a prompt with nothing to slug falls back to random words", () => {
    for (const prompt of ["", "!!! ???", "日本語"]) {
      const generated = generateTaskName(prompt)
      assert.match(generated.name, /^[a-z]+-[a-z]+-[0-9a-f]{4}$/, prompt)
      assert.strictEqual(
        generated.displayName,
        generated.name.slice(0, -5).replace("-", " ").replace(/^./, (c) => c.toUpperCase())
      )
    }
  })
})
