/**
 * Unit tier: which check wins when several fail, for the live task paths (send, live logs: spec §3.8.1)
 * and for resolving `{user}/{task}` (spec §2.2), with stub AgentApiClient, TaskRepo and UserRepo that
 * record every call. No database, no server, no agent.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import {
  AgentApiClient,
  AgentApiInvalidUrl,
  AgentApiRequestError,
  AgentApiUnsupportedScheme
} from "../../src/AgentApi/AgentApiClient.ts"
import type { UserActor } from "../../src/Domain/Actor.ts"
import type { MessagesResponse } from "../../src/Domain/AgentApi.ts"
import type { TaskRow } from "../../src/Domain/Task.ts"
import { liveLogs, sendInput } from "../../src/Tasks/Conversation.ts"
import { resolveTask } from "../../src/Tasks/TaskParam.ts"
import { TaskRepo } from "../../src/Tasks/TaskRepo.ts"
import { UserRepo } from "../../src/Users/UserRepo.ts"
import { activeRow, admin, alice, ids, Journal, member, unused } from "./Stubs.ts"

/** An error as `{_tag, message, detail?}`, to compare with Coder's bodies. */
const coder = (error: { readonly _tag: string; readonly message: string; readonly detail?: string | undefined }) =>
  error.detail === undefined
    ? { _tag: error._tag, message: error.message }
    : { _tag: error._tag, message: error.message, detail: error.detail }

interface AgentApiScript {
  readonly status?: Effect.Effect<{ readonly status: string }, any>
  readonly messages?: Effect.Effect<MessagesResponse, any>
  readonly sendMessage?: Effect.Effect<{ readonly ok: boolean }, any>
}

/** An agentapi that answers as scripted (stable, no messages, ok by default) and records each call. */
const agentApi = (journal: Journal, script: AgentApiScript = {}) =>
  Layer.succeed(
    AgentApiClient,
    AgentApiClient.of({
      status: (url) => journal.record(`status(${url})`, script.status ?? Effect.succeed({ status: "stable" })),
      messages: (url) => journal.record(`messages(${url})`, script.messages ?? Effect.succeed({ messages: [] })),
      sendMessage: (url, content) =>
        journal.record(`sendMessage(${url}, ${content})`, script.sendMessage ?? Effect.succeed({ ok: true })),
      events: () => Stream.die("events is not used by these checks")
    })
  )

const requestError = (operation: "messages" | "status" | "sendMessage", detail: string) =>
  new AgentApiRequestError({
    operation,
    reason: "Status",
    method: "GET",
    url: "http://localhost:3284",
    status: 500,
    detail
  })

/** `sendInput` on `row`: the error in Coder's terms (or "ok"), and the agentapi calls made. */
const send = (row: TaskRow, script: AgentApiScript = {}, input = "hello") => {
  const journal = new Journal()
  return sendInput(row, input).pipe(
    Effect.match({ onFailure: coder, onSuccess: () => "ok" as const }),
    Effect.map((result) => ({ result, calls: journal.entries })),
    Effect.provide(agentApi(journal, script))
  )
}

const logs = (row: TaskRow, script: AgentApiScript = {}) => {
  const journal = new Journal()
  return liveLogs(row).pipe(
    Effect.match({ onFailure: coder, onSuccess: (response) => response }),
    Effect.map((result) => ({ result, calls: journal.entries })),
    Effect.provide(agentApi(journal, script))
  )
}

const resuming = "The task is resuming. Wait for the task to become active before sending messages."

describe("send and live logs: the checks of authAndDoWithTaskAppClient, in order (spec §3.8.1)", () => {
  it.effect("a task not active is refused by status, before anything else is checked or called", () =>
    Effect.gen(function*() {
      // Everything else is wrong too (no workspace, no app, no URL): the status still wins.
      const broken = { workspace_id: null, workspace_app_id: null, app_url: null }
      assert.deepStrictEqual(yield* send(activeRow({ status: "pending", ...broken })), {
        result: { _tag: "Conflict", message: "Task is pending.", detail: resuming },
        calls: []
      })
      assert.deepStrictEqual(yield* send(activeRow({ status: "initializing", ...broken })), {
        result: { _tag: "Conflict", message: "Task is initializing.", detail: resuming },
        calls: []
      })
      assert.deepStrictEqual(yield* send(activeRow({ status: "paused", ...broken })), {
        result: { _tag: "Conflict", message: "Task is paused.", detail: "Resume the task to send messages." },
        calls: []
      })
      for (const status of ["error", "unknown"] as const) {
        assert.deepStrictEqual(yield* send(activeRow({ status, ...broken })), {
          result: {
            _tag: "BadRequest",
            message: "Task must be active.",
            detail: `Task status is "${status}", it must be "active" to interact with the task.`
          },
          calls: []
        })
      }
    }))

  it.effect("then the workspace, then the app, then the app's URL", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* send(activeRow({ workspace_id: null, workspace_app_id: null, app_url: null })), {
        result: { _tag: "BadRequest", message: "Task does not have a workspace." },
        calls: []
      })
      assert.deepStrictEqual(yield* send(activeRow({ workspace_app_id: null, app_url: null })), {
        result: { _tag: "BadRequest", message: "Task does not have a workspace app." },
        calls: []
      })
      for (const app_url of [null, ""]) {
        assert.deepStrictEqual(yield* send(activeRow({ app_url })), {
          result: { _tag: "InternalServerError", message: "Task app URL is not configured." },
          calls: []
        })
      }
    }))

  it.effect("a URL the client refuses: unparsable is a 500, a scheme other than http a 400", () =>
    Effect.gen(function*() {
      const invalid = yield* send(activeRow(), {
        status: Effect.fail(new AgentApiInvalidUrl({ operation: "status", url: "::", detail: "invalid URL" }))
      })
      assert.deepStrictEqual(invalid.result, {
        _tag: "InternalServerError",
        message: "Internal error parsing task app URL.",
        detail: "invalid URL"
      })
      const https = yield* send(activeRow({ app_url: "https://localhost:3284" }), {
        status: Effect.fail(
          new AgentApiUnsupportedScheme({
            operation: "status",
            url: "https://localhost:3284",
            scheme: "https",
            detail: "https"
          })
        )
      })
      assert.deepStrictEqual(https.result, {
        _tag: "BadRequest",
        message: "Only http scheme is supported for direct agent-dial."
      })
      assert.deepStrictEqual(https.calls, ["status(https://localhost:3284)"])
    }))

  it.effect("send: status first; a failed status call is 502 and nothing is sent", () =>
    Effect.gen(function*() {
      const result = yield* send(activeRow(), {
        status: Effect.fail(requestError("status", "GET …/status: status 500"))
      })
      assert.deepStrictEqual(result, {
        result: {
          _tag: "BadGateway",
          message: "Failed to get status from task app.",
          detail: "GET …/status: status 500"
        },
        calls: ["status(http://localhost:3284)"]
      })
    }))

  it.effect("send: an agent that is not stable is 502 with its status, and nothing is sent", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* send(activeRow(), { status: Effect.succeed({ status: "running" }) }), {
        result: { _tag: "BadGateway", message: "Task app is not ready to accept input.", detail: "Status: running" },
        calls: ["status(http://localhost:3284)"]
      })
    }))

  it.effect("send: a refused message is 502 Task app rejected the message.", () =>
    Effect.gen(function*() {
      const failed = yield* send(activeRow(), {
        sendMessage: Effect.fail(requestError("sendMessage", "POST: status 500"))
      })
      assert.deepStrictEqual(failed.result, {
        _tag: "BadGateway",
        message: "Task app rejected the message.",
        detail: "POST: status 500"
      })
      const notOk = yield* send(activeRow(), { sendMessage: Effect.succeed({ ok: false }) })
      assert.deepStrictEqual(notOk.result, {
        _tag: "BadGateway",
        message: "Task app rejected the message.",
        detail: "agentapi answered ok: false"
      })
    }))

  it.effect("send: all checks passed, the input goes to the app's URL as is (no trim)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* send(activeRow(), {}, "  hi  "), {
        result: "ok",
        calls: ["status(http://localhost:3284)", "sendMessage(http://localhost:3284,   hi  )"]
      })
    }))

  it.effect("live logs: the same status checks, then GET /messages mapped to log entries", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* logs(activeRow({ status: "paused" })), {
        result: { _tag: "Conflict", message: "Task is paused.", detail: "Resume the task to send messages." },
        calls: []
      })
      const ok = yield* logs(activeRow(), {
        messages: Effect.succeed({
          messages: [
            { id: 0, content: "hi", role: "agent", time: "2025-01-01T10:00:00Z" },
            { id: 1, content: "do it", role: "user", time: "2025-01-01T10:01:00Z" }
          ]
        })
      })
      assert.deepStrictEqual(ok, {
        result: {
          logs: [
            { id: 0, content: "hi", type: "output", time: "2025-01-01T10:00:00Z" },
            { id: 1, content: "do it", type: "input", time: "2025-01-01T10:01:00Z" }
          ]
        },
        calls: ["messages(http://localhost:3284)"]
      })
    }))

  it.effect("live logs: a failed call and a bad role are 502s with Coder's messages", () =>
    Effect.gen(function*() {
      const failed = yield* logs(activeRow(), { messages: Effect.fail(requestError("messages", "GET: status 503")) })
      assert.deepStrictEqual(failed.result, {
        _tag: "BadGateway",
        message: "Failed to get messages from task app.",
        detail: "GET: status 503"
      })
      const badRole = yield* logs(activeRow(), {
        messages: Effect.succeed({ messages: [{ id: 0, content: "x", role: "system", time: "2025-01-01T10:00:00Z" }] })
      })
      assert.deepStrictEqual(badRole.result, {
        _tag: "BadGateway",
        message: "Invalid task app response.",
        detail: `invalid agentapi message role "system"`
      })
    }))
})

/** TaskRepo/UserRepo stubs: the task exists by id and by name "my-task" (any case) for alice. */
const repos = (journal: Journal, row: TaskRow = activeRow({ name: "my-task" })) =>
  Layer.mergeAll(
    Layer.succeed(
      TaskRepo,
      TaskRepo.of({
        findById: (id, visibility) =>
          journal.record(
            `findById(${id}, ${visibility.userId}, ${visibility.seesAll})`,
            Effect.succeed(id === row.id ? row : undefined)
          ),
        findByOwnerAndName: (ownerId, name, visibility) =>
          journal.record(
            `findByOwnerAndName(${ownerId}, ${name}, ${visibility.seesAll})`,
            Effect.succeed(ownerId === row.owner_id && name.toLowerCase() === row.name ? row : undefined)
          ),
        list: unused("TaskRepo.list"),
        insertWithWorkspace: unused("TaskRepo.insertWithWorkspace"),
        softDelete: unused("TaskRepo.softDelete"),
        updatePromptIfPaused: unused("TaskRepo.updatePromptIfPaused")
      })
    ),
    Layer.succeed(
      UserRepo,
      UserRepo.of({
        findById: (id) => journal.record(`findUserById(${id})`, Effect.succeed(id === alice.id ? alice : undefined)),
        findByUsername: (username) =>
          journal.record(
            `findByUsername(${username})`,
            Effect.succeed(username.toLowerCase() === "alice" ? alice : undefined)
          ),
        insert: unused("UserRepo.insert"),
        findOrganizationByName: unused("UserRepo.findOrganizationByName"),
        findOrganization: unused("UserRepo.findOrganization"),
        defaultOrganization: Effect.die(new Error("UserRepo.defaultOrganization was not expected to be called")),
        list: Effect.die(new Error("UserRepo.list was not expected to be called")),
        isMember: unused("UserRepo.isMember")
      })
    )
  )

const resolve = (user: string, task: string, actor: UserActor = member) => {
  const journal = new Journal()
  return resolveTask({ user, task }, actor).pipe(
    Effect.match({ onFailure: coder, onSuccess: (row) => ({ found: row.id }) }),
    Effect.map((result) => ({ result, calls: journal.entries })),
    Effect.provide(repos(journal))
  )
}

const notFound = { _tag: "NotFound", message: "Resource not found or you do not have access to this resource" }

describe("resolving {user}/{task} as ExtractTaskParam does (spec §2.2)", () => {
  it.effect("an empty task is 400 before any lookup", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* resolve("me", ""), {
        result: { _tag: "BadRequest", message: `"task" must be provided.` },
        calls: []
      })
    }))

  it.effect("a task id is looked up first, with the caller's visibility; {user} is not compared or resolved", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* resolve("someone-else", ids.task), {
        result: { found: ids.task },
        calls: [`findById(${ids.task}, ${member.id}, false)`]
      })
      assert.deepStrictEqual(yield* resolve("me", ids.task.toUpperCase(), admin), {
        result: { found: ids.task },
        calls: [`findById(${ids.task}, ${admin.id}, true)`]
      })
    }))

  it.effect("an id that finds nothing falls through to a name lookup under {user}", () =>
    Effect.gen(function*() {
      const other = "abababab-abab-4bab-8bab-abababababab"
      assert.deepStrictEqual(yield* resolve("me", other), {
        result: notFound,
        calls: [
          `findById(${other}, ${member.id}, false)`,
          `findUserById(${member.id})`,
          `findByOwnerAndName(${ids.owner}, ${other}, false)`
        ]
      })
    }))

  it.effect("a name is looked up under {user} (me, a username in any case)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* resolve("me", "MY-TASK"), {
        result: { found: ids.task },
        calls: [`findUserById(${member.id})`, `findByOwnerAndName(${ids.owner}, MY-TASK, false)`]
      })
      assert.deepStrictEqual((yield* resolve("ALICE", "my-task")).result, { found: ids.task })
      assert.deepStrictEqual((yield* resolve("me", "no-such-task")).result, notFound)
    }))

  it.effect("an unknown {user} is Coder's 400 for the user parameter", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* resolve("nobody", "my-task")).result, {
        _tag: "BadRequest",
        message: `"user" must be an existing uuid or username.`,
        detail: `queried user="nobody"`
      })
      assert.deepStrictEqual((yield* resolve("", "my-task")).result, {
        _tag: "BadRequest",
        message: `"user" must be provided.`
      })
    }))
})
