/**
 * The stream of every task a caller may see (`GET /api/v2/tasks/events?q=...`, issue 12 §2-3), on each
 * backend, through the typed client: creation, state changes and deletion of the caller's tasks, never
 * another member's; `q` (status, owner) with a task that leaves the status it filters on; a bad `q`;
 * `Last-Event-ID`. The job runner is off: builds stay queued until a test finishes them.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import type { TasksStreamEvent } from "../src/Domain/Conversation.ts"
import * as Backends from "./support/Backends.ts"
import { reader } from "./support/EventStreams.ts"
import { createTaskWorkspace, createTemplate, createUser, type TestUser } from "./support/Fixtures.ts"
import { request } from "./support/Http.ts"
import { createTask, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const settings = { TASKD_JOB_WORKERS: "0", TASKD_RECORDER: "off" }

/** The workspace's builds fail, as a provisioner's would. */
const failBuilds = (workspaceId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE provisioner_jobs SET job_status = 'failed'
               WHERE id IN (SELECT job_id FROM workspace_builds WHERE workspace_id = ${workspaceId})`
  }).pipe(Effect.orDie)

/** The stream of `user`'s tasks matching `q`, read in the background for the life of the scope. */
const watch = (user: TestUser, q?: string, lastEventId?: string) =>
  Effect.gen(function*() {
    const client = yield* TestServer.clientFor(user.token)
    const stream = yield* client.conversations.tasksEvents({
      query: q === undefined ? {} : { q },
      headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId }
    })
    return yield* reader(stream)
  })

/** The task the event is about. */
const taskOf = (event: TasksStreamEvent) =>
  event.event === "task" ? event.data.id : event.event === "task_deleted" ? event.data.id : "(overflow)"

const summary = (event: TasksStreamEvent) =>
  event.event === "task" ? `task ${event.data.id} ${event.data.status}` : `${event.event} ${taskOf(event)}`

for (const backend of Backends.all) {
  layer(TestServer.layer(backend).pipe(Layer.provide(withEnv(settings))), {
    timeout: 120_000,
    excludeTestServices: true
  })(`tasks events [${backend.name}]`, (it) => {
    it.effect("a created task, its state changes as GET shows them, its deletion", () =>
      Effect.gen(function*() {
        const owner = yield* createUser("member")
        const template = yield* createTemplate()
        const events = yield* watch(owner)
        const created = yield* createTask(owner, template.versionId)
        const client = yield* TestServer.clientFor(owner.token)
        const first = yield* events.next
        assert.strictEqual(taskOf(first), created.id)
        assert.strictEqual(first.event, "task")
        assert.match(first.id ?? "", /^\d+$/)

        // The start build fails (as a provisioner's would): the task's status changes, the event says so.
        yield* failBuilds(created.workspace_id!)
        const errored = yield* client.tasks.get({ params: { user: "me", task: created.id } })
        const changed = yield* events.until((event) => event.event === "task" && event.data.status === errored.status)
        assert.deepStrictEqual(changed.at(-1)!.data, errored)
        assert.isAbove(Number(changed.at(-1)!.id), Number(first.id))

        yield* client.tasks.delete({ params: { user: "me", task: created.id } })
        const deleted = yield* events.until((event) => event.event === "task_deleted")
        assert.deepStrictEqual(deleted.at(-1)!.data, { id: created.id })
      }).pipe(Effect.scoped))

    it.effect("a member never receives an event of another user's task; an owner sees both", () =>
      Effect.gen(function*() {
        const alice = yield* createUser("member")
        const bob = yield* createUser("member")
        const admin = yield* createUser("owner")
        const template = yield* createTemplate()
        const bobs = yield* watch(bob)
        const admins = yield* watch(admin, `owner:${alice.username}`)
        const everyone = yield* watch(admin)
        // Alice's task first: were it sent to Bob, it would come before his own. (A task written by the
        // fixture goes through a few states: pending, then active.)
        const hers = yield* createTaskWorkspace(alice, template)
        const his = yield* createTaskWorkspace(bob, template)
        const all = yield* everyone.until((event) => taskOf(event) === his.taskId)
        assert.deepStrictEqual([...new Set(all.map(taskOf))], [hers.taskId, his.taskId])
        assert.strictEqual(taskOf(yield* bobs.next), his.taskId)
        assert.strictEqual(taskOf(yield* admins.next), hers.taskId)
        // Then both are deleted, hers first: Bob's stream has only his, the owner:alice one only hers.
        const client = yield* TestServer.clientFor(alice.token)
        yield* client.tasks.delete({ params: { user: "me", task: hers.taskId } })
        const bobClient = yield* TestServer.clientFor(bob.token)
        yield* bobClient.tasks.delete({ params: { user: "me", task: his.taskId } })
        const bobsRest = yield* bobs.until((event) => event.event === "task_deleted")
        assert.deepStrictEqual([...new Set(bobsRest.map(taskOf))], [his.taskId])
        assert.strictEqual(summary(bobsRest.at(-1)!), `task_deleted ${his.taskId}`)
        const aliceRest = yield* admins.until((event) => event.event === "task_deleted")
        assert.deepStrictEqual([...new Set(aliceRest.map(taskOf))], [hers.taskId])
        yield* everyone.until((event) => summary(event) === `task_deleted ${his.taskId}`)
      }).pipe(Effect.scoped))

    it.effect("status:active: tasks that become active, and one that leaves active; no others", () =>
      Effect.gen(function*() {
        const owner = yield* createUser("member")
        const template = yield* createTemplate()
        const events = yield* watch(owner, "status:active")
        // Pending (its build stays queued): not active, not sent.
        yield* createTask(owner, template.versionId)
        const active = yield* createTaskWorkspace(owner, template)
        const first = yield* events.next
        assert.strictEqual(summary(first), `task ${active.taskId} active`)

        const client = yield* TestServer.clientFor(owner.token)
        yield* client.tasks.pause({ params: { user: "me", task: active.taskId } })
        const left = yield* events.next
        assert.strictEqual(taskOf(left), active.taskId)
        assert.notStrictEqual(left.event === "task" && left.data.status, "active")
        assert.deepStrictEqual(
          left.event === "task" && left.data,
          yield* client.tasks.get({ params: { user: "me", task: active.taskId } })
        )
      }).pipe(Effect.scoped))

    it.effect("a bad q is the list's 400", () =>
      Effect.gen(function*() {
        const owner = yield* createUser("member")
        const list = yield* request("GET", "/api/v2/tasks?q=status:nope", { token: owner.token })
        const stream = yield* request("GET", "/api/v2/tasks/events?q=status:nope", { token: owner.token })
        assert.strictEqual(stream.status, 400)
        assert.deepStrictEqual(stream.json, list.json)
        assert.strictEqual(stream.json.message, "Invalid task search query.")
      }))

    it.effect("Last-Event-ID: the tasks whose state changed after it first, then live", () =>
      Effect.gen(function*() {
        const owner = yield* createUser("member")
        const other = yield* createUser("member")
        const template = yield* createTemplate()
        const cursor = yield* Effect.scoped(Effect.gen(function*() {
          const events = yield* watch(owner)
          const first = yield* createTaskWorkspace(owner, template)
          const got = yield* events.until((event) => event.event === "task" && event.data.status === "active")
          assert.strictEqual(taskOf(got.at(-1)!), first.taskId)
          return got.at(-1)!.id!
        }))
        // While away: two tasks of the caller's change, one of another user's.
        const second = yield* createTaskWorkspace(owner, template)
        yield* createTaskWorkspace(other, template)
        const third = yield* createTaskWorkspace(owner, template)
        const events = yield* watch(owner, undefined, cursor)
        const missed = yield* events.take(2)
        assert.deepStrictEqual(missed.map(taskOf), [second.taskId, third.taskId])
        assert.isAbove(Number(missed[0]!.id), Number(cursor))
        const client = yield* TestServer.clientFor(owner.token)
        yield* client.tasks.delete({ params: { user: "me", task: second.taskId } })
        assert.strictEqual(summary(yield* events.next), `task_deleted ${second.taskId}`)
      }).pipe(Effect.scoped))
  })
}
