/**
 * Webhooks (issue 15) through HTTP, with a receiver on a real socket that records every delivery: the
 * registration rules, the signature (checked as the README shows), order per task, retries after a 500
 * and a timeout, none after a 400, a receiver that is down for a while, organization-wide webhooks.
 * Events come from the task's own changes: its creation, the agent's status (recorded as the recorder
 * would), app statuses reported with the agent token.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as http from "node:http"
import { ConversationRepo } from "../src/Conversations/ConversationRepo.ts"
import { listedDeliveries } from "../src/Domain/Webhook.ts"
import * as Backends from "./support/Backends.ts"
import { createTaskWorkspace, createTemplate, createUser, type TestUser } from "./support/Fixtures.ts"
import { request } from "./support/Http.ts"
import { freePort } from "./support/Net.ts"
import { pollUntil, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const env = withEnv({
  TASKD_JOB_WORKERS: "0",
  TASKD_WEBHOOK_ALLOW: "127.0.0.1/8",
  TASKD_SECRET_KEY: randomBytes(32).toString("base64"),
  TASKD_WEBHOOK_BACKOFF: "100 millis",
  TASKD_WEBHOOK_TIMEOUT: "1 second",
  TASKD_WEBHOOK_POLL: "50 millis"
})

/** The README's verification, as a receiver would write it. */
const verify = (secret: string, header: string, rawBody: string) => {
  const { t, v1 } = Object.fromEntries(header.split(",").map((part) => part.split("=")))
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest()
  return v1 !== undefined && timingSafeEqual(Buffer.from(v1, "hex"), expected)
}

interface Received {
  readonly raw: string
  readonly json: { id: string; event: string; created_at: string; task: Record<string, unknown> }
  readonly signature: string
  readonly contentType: string
}

/** What the receiver answers a delivery: a status, or nothing at all. */
type Answer = (delivery: Received["json"], attempt: number) => number | "hang"

/** A webhook receiver on 127.0.0.1 (`port`, or any), for the life of the scope. */
const receiver = (answer: Answer, port = 0) =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; url: string; received: Array<Received> }>((resume) => {
      const received: Array<Received> = []
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8")
          const json = JSON.parse(raw) as Received["json"]
          received.push({
            raw,
            json,
            signature: String(req.headers["taskd-signature"] ?? ""),
            contentType: String(req.headers["content-type"] ?? "")
          })
          const outcome = answer(json, received.filter((r) => r.json.id === json.id).length)
          if (outcome === "hang") return
          res.writeHead(outcome)
          res.end()
        })
      })
      server.listen(port, "127.0.0.1", () => {
        const address = server.address() as { port: number }
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${address.port}/hook`, received }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ received, url }) => ({ received, url })))

const hooksPath = (user: TestUser) => `/api/v2/users/${user.username}/webhooks`

const register = (user: TestUser, body: unknown) =>
  request("POST", hooksPath(user), { token: user.token, body: JSON.stringify(body) })

const deliveriesOf = (user: TestUser, webhookId: string) =>
  Effect.map(
    request("GET", `${hooksPath(user)}/${webhookId}/deliveries`, { token: user.token }),
    (response) =>
      response.json.deliveries as Array<
        { id: string; event: string; state: string; attempts: number; last_status?: number; last_error?: string }
      >
  )

const waitFor = <A, R>(what: string, probe: Effect.Effect<A, never, R>, done: (value: A) => boolean) =>
  pollUntil(probe, done, (last) => `${what}; last ${JSON.stringify(last)}`, 20_000)

const setAgentStatus = (taskId: string, status: "running" | "stable") =>
  Effect.gen(function*() {
    const repo = yield* ConversationRepo
    return yield* repo.recordAgentStatus(taskId, status)
  }).pipe(Effect.provide(ConversationRepo.layer))

for (const backend of Backends.all) {
  layer(TestServer.layer(backend).pipe(Layer.provide(env)), { timeout: 120_000 })(
    `webhooks [${backend.name}]`,
    (it) => {
      const setup = (answer: Answer, events: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const hook = yield* receiver(answer)
          const owner = yield* createUser()
          const template = yield* createTemplate()
          const created = yield* register(owner, { url: hook.url, events })
          assert.strictEqual(created.status, 201, created.text)
          return { hook, owner, template, webhook: created.json as { id: string; secret: string } }
        })

      it.effect("registration: 201 with the secret once; listed without it; deleted", () =>
        Effect.gen(function*() {
          const owner = yield* createUser()
          const created = yield* register(owner, { url: "https://example.com/hook", events: ["task.needs_input"] })
          assert.strictEqual(created.status, 201)
          assert.deepStrictEqual(Object.keys(created.json).sort(), ["created_at", "events", "id", "secret", "url"])
          assert.match(created.json.secret, /^whsec_[0-9a-f]{64}$/)
          const own = yield* register(owner, {
            url: "http://127.0.0.1:1/x",
            events: ["task.failed", "task.created"],
            secret: "my own secret"
          })
          assert.strictEqual(own.status, 201)
          assert.isUndefined(own.json.secret)
          assert.deepStrictEqual(own.json.events, ["task.created", "task.failed"])
          const listed = yield* request("GET", hooksPath(owner), { token: owner.token })
          assert.strictEqual(listed.status, 200)
          assert.deepStrictEqual(
            listed.json.webhooks.map((w: { id: string }) => w.id).sort(),
            [created.json.id, own.json.id].sort()
          )
          assert.notInclude(listed.text, "secret")
          assert.notInclude(listed.text, created.json.secret)
          const removed = yield* request("DELETE", `${hooksPath(owner)}/${created.json.id}`, { token: owner.token })
          assert.strictEqual(removed.status, 204)
          const again = yield* request("DELETE", `${hooksPath(owner)}/${created.json.id}`, { token: owner.token })
          assert.strictEqual(again.status, 404)
          const after = yield* request("GET", hooksPath(owner), { token: owner.token })
          assert.deepStrictEqual(after.json.webhooks.map((w: { id: string }) => w.id), [own.json.id])
        }))

      it.effect("registration errors are 400s with validations; another member's webhooks are 403", () =>
        Effect.gen(function*() {
          const owner = yield* createUser()
          const badEvent = yield* register(owner, { url: "https://example.com/", events: ["task.exploded"] })
          assert.strictEqual(badEvent.status, 400)
          assert.strictEqual(badEvent.json.message, "Validation failed.")
          assert.deepStrictEqual(badEvent.json.validations.map((v: { field: string }) => v.field), ["events"])
          const noEvents = yield* register(owner, { url: "https://example.com/", events: [] })
          assert.strictEqual(noEvents.status, 400)
          for (
            const url of [
              "ftp://example.com/",
              "not a url",
              "http://10.1.2.3/hook",
              "http://localhost:8080/",
              "http://[::1]/"
            ]
          ) {
            const bad = yield* register(owner, { url, events: ["task.created"] })
            assert.strictEqual(bad.status, 400, url)
            assert.deepStrictEqual(bad.json.validations.map((v: { field: string }) => v.field), ["url"], url)
          }
          const privateOne = yield* register(owner, { url: "http://192.168.1.1/", events: ["task.created"] })
          assert.include(privateOne.json.validations[0].detail, "TASKD_WEBHOOK_ALLOW")
          const other = yield* createUser()
          const forbidden = yield* request("GET", hooksPath(owner), { token: other.token })
          assert.strictEqual(forbidden.status, 403)
        }))

      it.effect("deliveries are signed, in order per task, with the task as GET returns it", () =>
        Effect.gen(function*() {
          const { hook, owner, template, webhook } = yield* setup(
            () => 200,
            ["task.created", "task.needs_input", "task.completed"]
          )
          const task = yield* createTaskWorkspace(owner, template)
          yield* setAgentStatus(task.taskId, "running")
          yield* setAgentStatus(task.taskId, "stable")
          const agent = yield* TestServer.clientFor(task.agentToken)
          yield* agent.agent.appStatus({
            payload: { app_slug: "task-app", state: "complete", message: "done", uri: "" }
          })
          yield* waitFor("three deliveries", Effect.sync(() => hook.received.length), (n) => n >= 3)
          assert.deepStrictEqual(hook.received.map((r) => r.json.event), [
            "task.created",
            "task.needs_input",
            "task.completed"
          ])
          for (const delivery of hook.received) {
            assert.isTrue(verify(webhook.secret, delivery.signature, delivery.raw))
            assert.isFalse(verify("another secret", delivery.signature, delivery.raw))
            assert.strictEqual(delivery.contentType, "application/json")
            assert.deepStrictEqual(Object.keys(delivery.json), ["id", "event", "created_at", "task"])
            assert.strictEqual(delivery.json.task.id, task.taskId)
          }
          const get = yield* request("GET", `/api/v2/tasks/me/${task.taskId}`, { token: owner.token })
          assert.deepStrictEqual(hook.received[2]!.json.task, get.json)
          const listed = yield* deliveriesOf(owner, webhook.id)
          assert.deepStrictEqual(listed.map((d) => [d.event, d.state, d.attempts, d.last_status]), [
            ["task.completed", "delivered", 1, 200],
            ["task.needs_input", "delivered", 1, 200],
            ["task.created", "delivered", 1, 200]
          ])
        }))

      it.effect("a webhook keeps its latest finished deliveries, and the unfinished ones, not every one", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { hook, owner, template, webhook } = yield* setup(() => 200, ["task.needs_input"])
          const task = yield* createTaskWorkspace(owner, template)
          const other = yield* createTaskWorkspace(owner, template)
          // The oldest delivery is still to send (another task's, due in an hour); then a long history of
          // finished ones.
          yield* sql`INSERT INTO webhook_deliveries (id, webhook_id, task_id, event, created_at, next_attempt_at)
                     VALUES (gen_random_uuid(), ${webhook.id}, ${other.taskId}, 'task.needs_input',
                             now() - interval '1 day', now() + interval '1 hour')`
          const history = listedDeliveries + 20
          yield* sql`INSERT INTO webhook_deliveries (id, webhook_id, task_id, event, created_at, next_attempt_at,
                                                     state, attempts, finished_at, last_status)
                     SELECT gen_random_uuid(), ${webhook.id}, ${task.taskId}, 'task.needs_input',
                            now() - make_interval(secs => ${history} - i), now(),
                            CASE WHEN i % 2 = 0 THEN 'delivered' ELSE 'failed' END, 1, now(), 200
                     FROM generate_series(1, ${history}) AS i`
          const count = sql<{ state: string; count: number }>`
            SELECT state, count(*)::int AS count FROM webhook_deliveries
            WHERE webhook_id = ${webhook.id} GROUP BY state ORDER BY state`
          assert.deepStrictEqual(yield* count, [
            { state: "delivered", count: history / 2 },
            { state: "failed", count: history / 2 },
            { state: "pending", count: 1 }
          ])
          yield* setAgentStatus(task.taskId, "running")
          yield* setAgentStatus(task.taskId, "stable")
          yield* waitFor("the delivery", Effect.sync(() => hook.received.length), (n) => n >= 1)
          const listed = yield* waitFor(
            "the delivery recorded",
            deliveriesOf(owner, webhook.id),
            (deliveries) => deliveries[0]?.id === hook.received[0]!.json.id && deliveries[0]?.state === "delivered"
          )
          assert.strictEqual(listed.length, listedDeliveries)
          // The newest finished ones, as many as are listed (the one just sent among them), and the one to send.
          const kept = yield* count
          const finished = kept.filter((row) => row.state !== "pending").reduce((sum, row) => sum + row.count, 0)
          assert.strictEqual(finished, listedDeliveries)
          assert.deepStrictEqual(kept.find((row) => row.state === "pending"), { state: "pending", count: 1 })
        }))

      it.effect("a 500 is retried with the same id, and the task's next event waits for it", () =>
        Effect.gen(function*() {
          const { hook, owner, template, webhook } = yield* setup(
            (_, attempt) => attempt <= 2 ? 500 : 200,
            ["task.created", "task.needs_input"]
          )
          const task = yield* createTaskWorkspace(owner, template)
          yield* setAgentStatus(task.taskId, "running")
          yield* setAgentStatus(task.taskId, "stable")
          yield* waitFor("created x3 then needs_input x3", Effect.sync(() => hook.received.length), (n) => n >= 6)
          const seen = hook.received.map((r) => `${r.json.event}:${r.json.id}`)
          const created = hook.received[0]!.json.id
          const needsInput = hook.received[3]!.json.id
          assert.deepStrictEqual(seen, [
            ...Array(3).fill(`task.created:${created}`),
            ...Array(3).fill(`task.needs_input:${needsInput}`)
          ])
          const listed = yield* waitFor(
            "both delivered",
            deliveriesOf(owner, webhook.id),
            (ds) => ds.every((d) => d.state === "delivered")
          )
          assert.deepStrictEqual(listed.map((d) => d.attempts), [3, 3])
        }))

      it.effect("a timeout is retried; a 400 is not", () =>
        Effect.gen(function*() {
          const slow = yield* setup((_, attempt) => attempt === 1 ? "hang" : 200, ["task.created"])
          const task = yield* createTaskWorkspace(slow.owner, slow.template)
          yield* waitFor("two attempts", Effect.sync(() => slow.hook.received.length), (n) => n >= 2)
          const [first] = yield* waitFor(
            "delivered after the timeout",
            deliveriesOf(slow.owner, slow.webhook.id),
            (ds) => ds[0]?.state === "delivered"
          )
          assert.strictEqual(first!.attempts, 2)
          assert.strictEqual(slow.hook.received[1]!.json.id, slow.hook.received[0]!.json.id)
          assert.strictEqual(slow.hook.received[0]!.json.task.id, task.taskId)

          const refused = yield* setup(() => 400, ["task.created", "task.needs_input"])
          const other = yield* createTaskWorkspace(refused.owner, refused.template)
          yield* setAgentStatus(other.taskId, "running")
          yield* setAgentStatus(other.taskId, "stable")
          const listed = yield* waitFor(
            "both failed",
            deliveriesOf(refused.owner, refused.webhook.id),
            (ds) => ds.length === 2 && ds.every((d) => d.state === "failed")
          )
          assert.deepStrictEqual(listed.map((d) => [d.event, d.attempts, d.last_status]), [
            ["task.needs_input", 1, 400],
            ["task.created", 1, 400]
          ])
          // Each was attempted once: the later event went only after the first had failed for good.
          assert.deepStrictEqual(refused.hook.received.map((r) => r.json.event), ["task.created", "task.needs_input"])
        }))

      it.effect("a receiver down for a while gets the delivery once it is back", () =>
        Effect.gen(function*() {
          const port = yield* freePort
          const owner = yield* createUser()
          const template = yield* createTemplate()
          const created = yield* register(owner, { url: `http://127.0.0.1:${port}/hook`, events: ["task.created"] })
          const task = yield* createTaskWorkspace(owner, template)
          yield* waitFor(
            "a failed attempt",
            deliveriesOf(owner, created.json.id),
            (ds) => (ds[0]?.attempts ?? 0) >= 2 && ds[0]?.state === "pending"
          )
          const hook = yield* receiver(() => 200, port)
          yield* waitFor("the delivery", Effect.sync(() => hook.received.length), (n) => n >= 1)
          assert.strictEqual(hook.received[0]!.json.task.id, task.taskId)
          const [delivery] = yield* waitFor(
            "delivered",
            deliveriesOf(owner, created.json.id),
            (ds) => ds[0]?.state === "delivered"
          )
          assert.isAtLeast(delivery!.attempts, 3)
        }))

      it.effect("an organization's webhook, registered by an owner, hears every member's tasks", () =>
        Effect.gen(function*() {
          const hook = yield* receiver(() => 200)
          const admin = yield* createUser("owner")
          const member = yield* createUser()
          const path = "/api/v2/organizations/default/webhooks"
          const refused = yield* request("POST", path, {
            token: member.token,
            body: JSON.stringify({ url: hook.url, events: ["task.created"] })
          })
          assert.strictEqual(refused.status, 403)
          const created = yield* request("POST", path, {
            token: admin.token,
            body: JSON.stringify({ url: hook.url, events: ["task.created"] })
          })
          assert.strictEqual(created.status, 201, created.text)
          const template = yield* createTemplate()
          const task = yield* createTaskWorkspace(member, template)
          yield* waitFor(
            "the member's task",
            Effect.sync(() => hook.received.map((r) => r.json.task.id)),
            (ids) => ids.includes(task.taskId)
          )
          const removed = yield* request("DELETE", `${path}/${created.json.id}`, { token: admin.token })
          assert.strictEqual(removed.status, 204)
        }))
    }
  )
}
