/**
 * The OpenAPI document against the server's real answers: every endpoint's successes and errors, on each
 * backend, validated with ajv (JSON Schema 2020-12) against the document the server itself serves. A
 * handler whose JSON drifts from the declaration (a field renamed, added or retyped, an undeclared
 * status) fails here.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomBytes, randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { openRaw } from "./support/EventStreams.ts"
import { fakeServer } from "./support/FakeHttp.ts"
import { adminToken, createUser, uniqueName } from "./support/Fixtures.ts"
import { request, snapshotBody, snapshotPath, snapshotTemplate } from "./support/Http.ts"
import { makeChecker, sseEvents } from "./support/OpenApiCheck.ts"
import { agentToken as awaitAgentToken, pollUntil, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

type Method = "GET" | "POST" | "PATCH" | "DELETE"

/** A fake agentapi for the task app: stable, one message, accepts input. */
const agentApi = fakeServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json" })
  if (req.path === "/messages") {
    res.end(JSON.stringify({ messages: [{ id: 0, content: "hello", role: "agent", time: "2025-01-01T00:00:00Z" }] }))
  } else if (req.path === "/status") res.end(JSON.stringify({ status: "stable" }))
  else res.end(JSON.stringify({ ok: true }))
})

/** A webhook receiver that takes every delivery. */
const webhookReceiver = fakeServer((_req, res) => res.writeHead(204).end())

/** Webhooks need a key to keep their secrets with (on Postgres), and a destination on 127.0.0.1. */
const webhookEnv = withEnv({
  TASKD_SECRET_KEY: randomBytes(32).toString("base64"),
  TASKD_WEBHOOK_ALLOW: "127.0.0.1/8"
})

const waitFor = <A, R>(effect: Effect.Effect<A, never, R>, done: (a: A) => boolean, what: string) =>
  pollUntil(effect, done, () => what)

for (const backend of Backends.all) {
  const workspaces = Workspaces.recording()
  describe(`OpenAPI document against real responses [${backend.name}]`, () => {
    layer(TestServer.layer(backend, { provisioner: workspaces.layer }).pipe(Layer.provide(webhookEnv)), {
      timeout: 120_000
    })((it) => {
      it.effect(
        "every endpoint's successes and errors match the document the server serves",
        () =>
          Effect.gen(function*() {
            const served = yield* request("GET", "/api/v2/openapi.json")
            assert.strictEqual(served.status, 200)
            assert.strictEqual(served.json.openapi, "3.1.0")
            const checker = makeChecker(served.json)

            /** Sends a request and checks the answer against `METHOD template`; returns it for assertions. */
            const call = (
              method: Method,
              template: string,
              path: string,
              options: { readonly token?: string; readonly body?: string } = {}
            ) =>
              Effect.map(request(method, path, options), (response) => {
                checker.check(method, template, response)
                return response
              })

            /**
             * Opens an event stream, runs `then` (a change for it to report; its result is `after`), checks
             * the stream's status and first event (or its error body) against `GET template`, and closes it.
             */
            const streamAround = <A, R>(
              template: string,
              path: string,
              token: string,
              then: Effect.Effect<A, never, R>
            ) =>
              Effect.scoped(Effect.gen(function*() {
                const { url } = yield* TestServer.baseUrl
                const raw = yield* openRaw(url, path, { token })
                const after = yield* then
                const text = raw.status === 200
                  ? yield* raw.waitFor((text) => sseEvents(text).length > 0)
                  : yield* raw.ended
                const response = {
                  status: raw.status,
                  headers: { "content-type": raw.headers["content-type"] ?? "" },
                  text,
                  json: raw.status === 200 ? undefined : JSON.parse(text)
                }
                checker.check("GET", template, response)
                return { response, after }
              }))
            const stream = (template: string, path: string, token: string) =>
              Effect.map(streamAround(template, path, token, Effect.void), ({ response }) => response)

            // Health probes: their 503 needs a stopped database, which test/Faults.test.ts owns.
            assert.strictEqual((yield* call("GET", "/healthz", "/healthz")).status, 200)
            assert.strictEqual((yield* call("GET", "/readyz", "/readyz")).status, 200)

            const admin = yield* adminToken
            const member = yield* createUser()
            const user = uniqueName("oa")

            // Users
            const created = yield* call("POST", "/api/v2/users", "/api/v2/users", {
              token: admin,
              body: JSON.stringify({ username: user, email: "oa@example.com" })
            })
            assert.strictEqual(created.status, 201)
            assert.strictEqual(
              (yield* call("POST", "/api/v2/users", "/api/v2/users", {
                token: admin,
                body: JSON.stringify({ username: user, email: "oa@example.com" })
              })).status,
              409
            )
            assert.strictEqual(
              (yield* call("POST", "/api/v2/users", "/api/v2/users", {
                token: member.token,
                body: JSON.stringify({ username: uniqueName("x"), email: "x@example.com" })
              })).status,
              403
            )
            assert.strictEqual(
              (yield* call("POST", "/api/v2/users", "/api/v2/users", { token: admin, body: "{" })).status,
              400
            )
            assert.strictEqual(
              (yield* call("GET", "/api/v2/users/me", "/api/v2/users/me", { token: admin })).status,
              200
            )
            assert.strictEqual((yield* call("GET", "/api/v2/users/me", "/api/v2/users/me")).status, 401)
            assert.strictEqual(
              (yield* call("GET", "/api/v2/users/me", "/api/v2/users/me", { token: "not-a-key" })).status,
              401
            )
            const key = yield* call("POST", "/api/v2/users/{user}/keys", `/api/v2/users/${user}/keys`, { token: admin })
            assert.strictEqual(key.status, 201)
            const userToken: string = key.json.key
            assert.strictEqual(
              (yield* call("POST", "/api/v2/users/{user}/keys", `/api/v2/users/${user}/keys`, { token: member.token }))
                .status,
              403
            )
            assert.strictEqual(
              (yield* call("POST", "/api/v2/users/{user}/keys", `/api/v2/users/nobody-${user}/keys`, { token: admin }))
                .status,
              400
            )

            // Templates
            const fake = yield* agentApi
            const templates = "/api/v2/organizations/{organization}/templates"
            const template = yield* call("POST", templates, "/api/v2/organizations/default/templates", {
              token: admin,
              body: JSON.stringify({ name: uniqueName("tpl"), app_url: fake.url })
            })
            assert.strictEqual(template.status, 201)
            assert.strictEqual(
              (yield* call("POST", templates, "/api/v2/organizations/default/templates", {
                token: admin,
                body: JSON.stringify({ name: template.json.name })
              })).status,
              409
            )
            assert.strictEqual(
              (yield* call("POST", templates, "/api/v2/organizations/default/templates", {
                token: member.token,
                body: JSON.stringify({ name: uniqueName("tpl") })
              })).status,
              403
            )
            assert.strictEqual(
              (yield* call("POST", templates, "/api/v2/organizations/default/templates", {
                token: admin,
                body: JSON.stringify({ name: 7 })
              })).status,
              400
            )
            assert.isAtLeast(
              (yield* call("POST", templates, `/api/v2/organizations/${randomUUID()}/templates`, {
                token: admin,
                body: JSON.stringify({ name: uniqueName("tpl") })
              })).status,
              400
            )
            const versions = "/api/v2/templates/{template}/versions"
            const version = yield* call("POST", versions, `/api/v2/templates/${template.json.id}/versions`, {
              token: admin,
              body: JSON.stringify({ app_url: fake.url })
            })
            assert.strictEqual(version.status, 201)
            assert.strictEqual(
              (yield* call("POST", versions, `/api/v2/templates/${template.json.id}/versions`, {
                token: member.token,
                body: JSON.stringify({})
              })).status,
              403
            )
            assert.isAtLeast(
              (yield* call("POST", versions, `/api/v2/templates/${randomUUID()}/versions`, {
                token: admin,
                body: JSON.stringify({})
              })).status,
              400
            )

            // The listings: users for owners only, templates for everyone signed in.
            assert.strictEqual((yield* call("GET", "/api/v2/users", "/api/v2/users", { token: admin })).status, 200)
            assert.strictEqual(
              (yield* call("GET", "/api/v2/users", "/api/v2/users", { token: member.token })).status,
              403
            )
            const listedTemplates = yield* call("GET", "/api/v2/templates", "/api/v2/templates", {
              token: member.token
            })
            assert.strictEqual(listedTemplates.status, 200)
            assert.isAtLeast(listedTemplates.json.length, 1)
            assert.strictEqual((yield* call("GET", "/api/v2/templates", "/api/v2/templates")).status, 401)

            // Webhooks: the user's (deliveries checked once tasks were created) and the organization's.
            const receiver = yield* webhookReceiver
            const userHooks = "/api/v2/users/{user}/webhooks"
            const userHook = "/api/v2/users/{user}/webhooks/{webhook}"
            const hooksPath = `/api/v2/users/${user}/webhooks`
            const hook = yield* call("POST", userHooks, hooksPath, {
              token: userToken,
              body: JSON.stringify({ url: receiver.url, events: ["task.created"] })
            })
            assert.strictEqual(hook.status, 201)
            assert.isString(hook.json.secret)
            assert.strictEqual(
              (yield* call("POST", userHooks, hooksPath, {
                token: userToken,
                body: JSON.stringify({ url: receiver.url, events: ["task.bogus"] })
              })).status,
              400
            )
            assert.strictEqual(
              (yield* call("POST", userHooks, hooksPath, {
                token: member.token,
                body: JSON.stringify({ url: receiver.url, events: ["task.created"] })
              })).status,
              403
            )
            const hooks = yield* call("GET", userHooks, hooksPath, { token: userToken })
            assert.strictEqual(hooks.status, 200)
            assert.deepStrictEqual(hooks.json.webhooks.map((w: { id: string }) => w.id), [hook.json.id])
            assert.strictEqual((yield* call("GET", userHooks, hooksPath, { token: member.token })).status, 403)

            const orgHooks = "/api/v2/organizations/{organization}/webhooks"
            const orgHook = "/api/v2/organizations/{organization}/webhooks/{webhook}"
            const orgHooksPath = "/api/v2/organizations/default/webhooks"
            const orgCreated = yield* call("POST", orgHooks, orgHooksPath, {
              token: admin,
              body: JSON.stringify({ url: receiver.url, events: ["task.deleted"], secret: "a-secret-of-mine" })
            })
            assert.strictEqual(orgCreated.status, 201)
            assert.isUndefined(orgCreated.json.secret)
            assert.strictEqual(
              (yield* call("POST", orgHooks, orgHooksPath, {
                token: member.token,
                body: JSON.stringify({ url: receiver.url, events: ["task.deleted"] })
              })).status,
              403
            )
            assert.strictEqual((yield* call("GET", orgHooks, orgHooksPath, { token: admin })).status, 200)
            assert.strictEqual((yield* call("GET", orgHooks, orgHooksPath, { token: member.token })).status, 403)
            const orgDeliveries = `${orgHooksPath}/${orgCreated.json.id}/deliveries`
            assert.strictEqual(
              (yield* call("GET", `${orgHook}/deliveries`, orgDeliveries, { token: admin })).status,
              200
            )
            assert.strictEqual(
              (yield* call("GET", `${orgHook}/deliveries`, orgDeliveries, { token: member.token })).status,
              403
            )
            assert.strictEqual(
              (yield* call("DELETE", orgHook, `${orgHooksPath}/${orgCreated.json.id}`, { token: member.token }))
                .status,
              403
            )
            assert.strictEqual(
              (yield* call("DELETE", orgHook, `${orgHooksPath}/${orgCreated.json.id}`, { token: admin })).status,
              204
            )
            assert.strictEqual(
              (yield* call("DELETE", orgHook, `${orgHooksPath}/${orgCreated.json.id}`, { token: admin })).status,
              404
            )

            // The stream of every task the caller may see: its first event, then a bad query.
            const tasksEvents = "/api/v2/tasks/events"
            assert.strictEqual(
              (yield* call("GET", tasksEvents, `${tasksEvents}?q=status:bogus`, { token: userToken }))
                .status,
              400
            )

            // Tasks, under both prefixes, through a whole lifecycle.
            for (const prefix of ["/api/v2", "/api/experimental"]) {
              const t = (suffix: string) => `${prefix}/tasks${suffix}`
              const list = yield* call("GET", t(""), t("?q=owner:me"), { token: userToken })
              assert.strictEqual(list.status, 200)
              assert.strictEqual((yield* call("GET", t(""), t("?q=status:bogus"), { token: userToken })).status, 400)
              assert.strictEqual((yield* call("GET", t(""), t(""))).status, 401)

              const createTask = call("POST", t("/{user}"), t("/me"), {
                token: userToken,
                body: JSON.stringify({ template_version_id: version.json.id, input: "build it" })
              })
              // The stream of every task the caller may see starts with nothing: the creation is its first event.
              const task = prefix === "/api/v2"
                ? yield* Effect.map(
                  streamAround(tasksEvents, `${tasksEvents}?q=owner:me`, userToken, createTask),
                  ({ after, response }) => {
                    assert.strictEqual(response.status, 200)
                    assert.match(response.text, /^event: task$/m)
                    assert.include(response.text, after.json.id)
                    return after
                  }
                )
                : yield* createTask
              assert.strictEqual(task.status, 201)
              const taskPath = t(`/me/${task.json.id}`)
              assert.strictEqual(
                (yield* call("POST", t("/{user}"), t("/me"), {
                  token: userToken,
                  body: JSON.stringify({ template_version_id: version.json.id, name: task.json.name })
                })).status,
                409
              )
              assert.strictEqual(
                (yield* call("POST", t("/{user}"), t("/me"), { token: userToken, body: JSON.stringify({}) })).status,
                400
              )
              assert.strictEqual(
                (yield* call("GET", t("/{user}/{task}"), t(`/me/${randomUUID()}`), { token: userToken })).status,
                404
              )

              // Not active yet: input and logs are refused with 409.
              yield* waitFor(
                call("GET", t("/{user}/{task}"), taskPath, { token: userToken }),
                (r) => r.json.status === "initializing",
                "initializing"
              )
              assert.strictEqual(
                (yield* call("POST", t("/{user}/{task}/send"), `${taskPath}/send`, {
                  token: userToken,
                  body: JSON.stringify({ input: "hi" })
                })).status,
                409
              )

              // Act as the workspace agent with the token the provisioner was given.
              const agentToken = yield* awaitAgentToken(workspaces.record, task.json.id)
              const a = (suffix: string) => `/api/v2/workspaceagents/me${suffix}`
              // The agent may authenticate once the provision job has completed, which can follow "initializing".
              const manifest = yield* waitFor(
                request("GET", a("/manifest"), { token: agentToken }),
                (r) => r.status === 200,
                "the agent's manifest"
              )
              checker.check("GET", a("/manifest"), manifest)
              assert.strictEqual(
                (yield* call("GET", a("/manifest"), a("/manifest"), { token: randomUUID() })).status,
                401
              )
              assert.strictEqual(
                (yield* call("POST", a("/report-lifecycle"), a("/report-lifecycle"), {
                  token: agentToken,
                  body: JSON.stringify({ state: "ready" })
                })).status,
                204
              )
              assert.strictEqual(
                (yield* call("POST", a("/report-lifecycle"), a("/report-lifecycle"), {
                  token: agentToken,
                  body: JSON.stringify({ state: "sleepy" })
                })).status,
                400
              )
              assert.strictEqual(
                (yield* call("POST", a("/app-health"), a("/app-health"), {
                  token: agentToken,
                  body: JSON.stringify({ healths: { [manifest.json.apps[0].id]: "healthy" } })
                })).status,
                200
              )
              assert.strictEqual(
                (yield* call("POST", a("/app-health"), a("/app-health"), {
                  token: agentToken,
                  body: JSON.stringify({ healths: { [randomUUID()]: "healthy" } })
                })).status,
                400
              )
              assert.strictEqual(
                (yield* call("PATCH", a("/app-status"), a("/app-status"), {
                  token: agentToken,
                  body: JSON.stringify({ app_slug: manifest.json.apps[0].slug, state: "working", message: "on it" })
                })).status,
                200
              )
              assert.strictEqual(
                (yield* call("PATCH", a("/app-status"), a("/app-status"), {
                  token: agentToken,
                  body: JSON.stringify({ app_slug: "nope", state: "working" })
                })).status,
                400
              )
              const active = yield* call("GET", t("/{user}/{task}"), taskPath, { token: userToken })
              assert.strictEqual(active.json.status, "active")

              if (prefix === "/api/v2") {
                // The recorded conversation and the event streams (taskd's own, under /api/v2 only).
                const page = yield* call("GET", t("/{user}/{task}/messages"), `${taskPath}/messages`, {
                  token: userToken
                })
                assert.strictEqual(page.status, 200)
                assert.isArray(page.json.messages)
                assert.strictEqual(
                  (yield* call("GET", t("/{user}/{task}/messages"), `${taskPath}/messages?limit=0`, {
                    token: userToken
                  })).status,
                  400
                )
                const events = yield* stream(t("/{user}/{task}/events"), `${taskPath}/events`, userToken)
                assert.strictEqual(events.status, 200)
                assert.match(events.text, /^event: task$/m)
                assert.strictEqual(
                  (yield* stream(t("/{user}/{task}/events"), `${taskPath}/events`, member.token)).status,
                  404
                )
              }

              // Active: live logs and send through the fake agentapi; input is refused while active.
              const live = yield* call("GET", t("/{user}/{task}/logs"), `${taskPath}/logs`, { token: userToken })
              assert.strictEqual(live.status, 200)
              assert.strictEqual(live.json.logs[0].content, "hello")
              assert.strictEqual(
                (yield* call("GET", t("/{user}/{task}/logs"), `${taskPath}/logs`, { token: member.token })).status,
                404
              )
              assert.strictEqual(
                (yield* call("POST", t("/{user}/{task}/send"), `${taskPath}/send`, {
                  token: userToken,
                  body: JSON.stringify({ input: "more" })
                })).status,
                204
              )
              assert.strictEqual(
                (yield* call("POST", t("/{user}/{task}/send"), `${taskPath}/send`, { token: userToken, body: "[" }))
                  .status,
                400
              )
              const input = yield* call("PATCH", t("/{user}/{task}/input"), `${taskPath}/input`, {
                token: userToken,
                body: JSON.stringify({ input: "new prompt" })
              })
              assert.strictEqual(input.status, 409)

              // The snapshot, then pause; logs now come from the snapshot.
              const saved = snapshotBody("saved")
              assert.strictEqual(
                (yield* call("POST", snapshotTemplate, snapshotPath(task.json.id), { token: agentToken, body: saved }))
                  .status,
                204
              )
              assert.strictEqual(
                (yield* call("POST", snapshotTemplate, snapshotPath(task.json.id, "?format=other"), {
                  token: agentToken,
                  body: saved
                })).status,
                400
              )
              assert.strictEqual(
                (yield* call("POST", snapshotTemplate, snapshotPath(randomUUID()), { token: agentToken, body: saved }))
                  .status,
                404
              )
              assert.strictEqual(
                (yield* call("POST", snapshotTemplate, snapshotPath(task.json.id), { body: saved })).status,
                401
              )

              const pause = yield* call("POST", t("/{user}/{task}/pause"), `${taskPath}/pause`, { token: userToken })
              assert.strictEqual(pause.status, 202)
              yield* waitFor(
                call("GET", t("/{user}/{task}"), taskPath, { token: userToken }),
                (r) => r.json.status === "paused",
                "paused"
              )
              const fromSnapshot = yield* call("GET", t("/{user}/{task}/logs"), `${taskPath}/logs`, {
                token: userToken
              })
              assert.strictEqual(fromSnapshot.status, 200)
              assert.strictEqual(fromSnapshot.json.logs[0].content, "saved")
              assert.strictEqual(
                (yield* call("PATCH", t("/{user}/{task}/input"), `${taskPath}/input`, {
                  token: userToken,
                  body: JSON.stringify({ input: "new prompt" })
                })).status,
                204
              )

              if (prefix === "/api/v2") {
                // Queued input, while paused: it waits for the agent, so it can be listed and cancelled.
                const queue = t("/{user}/{task}/queue")
                const queued = yield* call("POST", queue, `${taskPath}/queue`, {
                  token: userToken,
                  body: JSON.stringify({ input: " later " })
                })
                assert.strictEqual(queued.status, 202)
                assert.strictEqual(queued.json.input, "later")
                assert.strictEqual(
                  (yield* call("POST", queue, `${taskPath}/queue`, {
                    token: userToken,
                    body: JSON.stringify({ input: "  " })
                  })).status,
                  400
                )
                const pending = yield* call("GET", queue, `${taskPath}/queue`, { token: userToken })
                assert.strictEqual(pending.status, 200)
                assert.deepStrictEqual(pending.json.queued.map((q: { id: string }) => q.id), [queued.json.id])
                assert.strictEqual(
                  (yield* call("GET", queue, `${taskPath}/queue`, { token: member.token })).status,
                  404
                )
                assert.strictEqual(
                  (yield* call("DELETE", `${queue}/{id}`, `${taskPath}/queue/${queued.json.id}`, { token: userToken }))
                    .status,
                  204
                )
                assert.strictEqual(
                  (yield* call("DELETE", `${queue}/{id}`, `${taskPath}/queue/${randomUUID()}`, { token: userToken }))
                    .status,
                  404
                )
              }
              assert.strictEqual(
                (yield* call("POST", t("/{user}/{task}/pause"), `${taskPath}/pause`, { token: member.token })).status,
                404
              )
              const resume = yield* call("POST", t("/{user}/{task}/resume"), `${taskPath}/resume`, { token: userToken })
              assert.strictEqual(resume.status, 202)
              const stranger = yield* call("POST", t("/{user}/{task}/resume"), `${taskPath}/resume`, {
                token: member.token
              })
              assert.strictEqual(stranger.status, 404)
              yield* waitFor(
                call("GET", t("/{user}/{task}"), taskPath, { token: userToken }),
                (r) => r.json.status !== "pending",
                "resumed"
              )
              assert.strictEqual(
                (yield* call("DELETE", t("/{user}/{task}"), taskPath, { token: member.token })).status,
                404
              )
              assert.strictEqual(
                (yield* call("DELETE", t("/{user}/{task}"), taskPath, { token: userToken })).status,
                202
              )
              yield* waitFor(
                call("GET", t("/{user}/{task}"), taskPath, { token: userToken }),
                (r) => r.status === 404,
                "deleted"
              )
            }

            // The user's webhook got the task.created of both tasks.
            const deliveries = `${hooksPath}/${hook.json.id}/deliveries`
            const delivered = yield* waitFor(
              call("GET", `${userHook}/deliveries`, deliveries, { token: userToken }),
              (r) => r.json.deliveries.filter((d: { state: string }) => d.state === "delivered").length === 2,
              "two deliveries"
            )
            assert.deepStrictEqual(delivered.json.deliveries.map((d: { event: string }) => d.event), [
              "task.created",
              "task.created"
            ])
            assert.strictEqual(
              (yield* call("GET", `${userHook}/deliveries`, `${hooksPath}/${randomUUID()}/deliveries`, {
                token: userToken
              })).status,
              404
            )
            assert.strictEqual(
              (yield* call("DELETE", userHook, `${hooksPath}/${hook.json.id}`, { token: member.token })).status,
              403
            )
            assert.strictEqual(
              (yield* call("DELETE", userHook, `${hooksPath}/${hook.json.id}`, { token: userToken })).status,
              204
            )
            assert.strictEqual(
              (yield* call("DELETE", userHook, `${hooksPath}/${hook.json.id}`, { token: userToken })).status,
              404
            )

            // The console's sign-in and sign-out.
            const session = "/console/session"
            const signedIn = yield* call("POST", session, session, { body: JSON.stringify({ token: userToken }) })
            assert.strictEqual(signedIn.status, 200)
            assert.strictEqual(signedIn.json.username, user)
            assert.strictEqual(
              (yield* call("POST", session, session, { body: JSON.stringify({ token: "not-a-key" }) })).status,
              401
            )
            assert.strictEqual((yield* call("DELETE", session, session)).status, 204)

            // Every operation was exercised with a success and an error.
            const seen = new Map<string, Set<number>>()
            for (const { operation, status } of checker.checked) {
              seen.set(operation, (seen.get(operation) ?? new Set()).add(status))
            }
            for (const operation of checker.operations()) {
              const statuses = [...(seen.get(operation) ?? [])]
              assert.isTrue(statuses.some((s) => s < 300), `${operation}: no success checked (${statuses})`)
              // Probes and sign-out have no error a client can cause.
              if (["GET /healthz", "GET /readyz", "DELETE /console/session"].includes(operation)) continue
              assert.isTrue(statuses.some((s) => s >= 400), `${operation}: no error checked (${statuses})`)
            }
          }),
        120_000
      )

      it.effect("the docs page renders the document offline", () =>
        Effect.gen(function*() {
          const page = yield* request("GET", "/api/v2/docs")
          assert.strictEqual(page.status, 200)
          assert.match(page.headers["content-type"] ?? "", /text\/html/)
          assert.include(page.text, "SwaggerUIBundle")
          assert.include(page.text, `"/api/v2/tasks/{user}/{task}/logs"`)
          // No script, stylesheet or font is fetched from anywhere.
          assert.notMatch(page.text, /<(script|link)[^>]+(src|href)=["']?https?:/i)
        }))
    })
  })
}
