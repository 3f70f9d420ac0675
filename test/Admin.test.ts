/**
 * The admin endpoints (users, API keys, templates, template versions) and the error bodies every endpoint
 * shares: Coder's `{"message", "detail"?, "validations"?}`, never a `_tag`.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { Conflict, Forbidden } from "../src/Domain/CoderError.ts"
import * as Backends from "./support/Backends.ts"
import { adminToken, coderUserKeys, createTemplate, createUser, uniqueName } from "./support/Fixtures.ts"
import { type RawResponse, request } from "./support/Http.ts"
import * as ManualClock from "./support/ManualClock.ts"
import { standard404 } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const forbiddenBody = {
  message: "Forbidden.",
  detail: "You don't have permission to view this content. If you believe this is a mistake, please contact " +
    "your administrator or try signing in with different credentials."
}

/** An error response with exactly `body`, and nothing of Effect's encoding in it. */
const assertError = (response: RawResponse, status: number, body: unknown) => {
  assert.strictEqual(response.status, status, response.text)
  assert.deepStrictEqual(response.json, body)
  assert.notInclude(response.text, "_tag")
}

const post = (path: string, token: string, body: unknown) =>
  request("POST", path, { token, body: typeof body === "string" ? body : JSON.stringify(body) })

const defaultOrganizationId = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ id: string }>`SELECT id FROM organizations WHERE name = 'default'`
).pipe(Effect.map((rows) => rows[0]!.id), Effect.orDie)

const activeVersionOf = (templateId: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ active_version_id: string }>`SELECT active_version_id FROM templates WHERE id = ${templateId}`
  ).pipe(Effect.map((rows) => rows[0]?.active_version_id), Effect.orDie)

const keysOf = (userId: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM api_keys WHERE user_id = ${userId}`
  ).pipe(Effect.map((rows) => rows[0]!.n), Effect.orDie)

const apiKeyPattern = /^[a-zA-Z0-9]{10}-[a-zA-Z0-9]{22}$/

for (const backend of Backends.all) {
  describe(`admin endpoints [${backend.name}]`, () => {
    // taskd and the fixtures read the time the tests set (a TestClock would run the job runner's poll loop
    // for every second it is moved by).
    const time = ManualClock.make()
    layer(Layer.merge(TestServer.layer(backend, { clock: time.clock }), time.layer), {
      timeout: 120_000,
      excludeTestServices: true
    })((it) => {
      it.effect("POST /users: 201 with the user, in the default organization, created_at from the clock", () =>
        Effect.gen(function*() {
          yield* time.setTime(Date.parse("2031-02-03T04:05:06.789Z"))
          const token = yield* adminToken
          const username = uniqueName("alice")
          const response = yield* post("/api/v2/users", token, { username, email: "alice@example.com" })
          assert.strictEqual(response.status, 201, response.text)
          assert.deepStrictEqual(Object.keys(response.json).sort(), coderUserKeys)
          assert.match(response.json.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
          assert.deepStrictEqual({ ...response.json, id: "" }, {
            id: "",
            username,
            email: "alice@example.com",
            avatar_url: "",
            roles: ["member"],
            organization_ids: [yield* defaultOrganizationId],
            created_at: "2031-02-03T04:05:06.789Z"
          })

          // GET /users/me as that user shows the same object.
          const admin = yield* TestServer.clientFor(token)
          const { key } = yield* admin.users.createApiKey({ params: { user: response.json.id } })
          const me = yield* request("GET", "/api/v2/users/me", { token: key })
          assert.strictEqual(me.status, 200)
          assert.deepStrictEqual(me.json, response.json)
        }))

      it.effect("POST /users: role owner, and the organization named case-insensitively", () =>
        Effect.gen(function*() {
          const admin = yield* TestServer.clientFor(yield* adminToken)
          const user = yield* admin.users.create({
            payload: { username: uniqueName("olga"), email: "olga@example.com", role: "owner", organization: "DEFAULT" }
          })
          assert.deepStrictEqual(user.roles, ["owner"])
          assert.deepStrictEqual(user.organization_ids, [yield* defaultOrganizationId])
        }))

      it.effect("POST /users: a username taken in any case is 409", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          const username = uniqueName("dup")
          assert.strictEqual((yield* post("/api/v2/users", token, { username, email: "a@example.com" })).status, 201)
          for (const again of [username, username.toUpperCase()]) {
            const response = yield* post("/api/v2/users", token, { username: again, email: "b@example.com" })
            assertError(response, 409, { message: `User ${JSON.stringify(again)} already exists.` })
          }
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql`SELECT 1 FROM users WHERE lower(username) = ${username}`
          assert.strictEqual(rows.length, 1)
        }))

      it.effect("POST /users: a member is refused with 403, and nothing is created", () =>
        Effect.gen(function*() {
          const member = yield* createUser("member")
          const username = uniqueName("sneaky")
          const response = yield* post("/api/v2/users", member.token, { username, email: "s@example.com" })
          assertError(response, 403, forbiddenBody)
          const sql = yield* SqlClient.SqlClient
          assert.strictEqual((yield* sql`SELECT 1 FROM users WHERE username = ${username}`).length, 0)
          // An owner other than admin may.
          const owner = yield* createUser("owner")
          assert.strictEqual(
            (yield* post("/api/v2/users", owner.token, { username, email: "s@example.com" })).status,
            201
          )
        }))

      it.effect("POST /users: an unknown organization is 400", () =>
        Effect.gen(function*() {
          const response = yield* post("/api/v2/users", yield* adminToken, {
            username: uniqueName("lost"),
            email: "lost@example.com",
            organization: "nowhere"
          })
          assertError(response, 400, { message: `Organization "nowhere" does not exist.` })
        }))

      it.effect("POST /users: an invalid username or email is 400 Validation failed, field by field", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          const badName = yield* post("/api/v2/users", token, { username: "not valid!", email: "ok@example.com" })
          assertError(badName, 400, {
            message: "Validation failed.",
            validations: [{
              field: "username",
              detail: `Validation failed for tag "username" with value: "not valid!": must be alphanumeric with hyphens`
            }]
          })

          const both = yield* post("/api/v2/users", token, { username: "x".repeat(33), email: "no-at-sign" })
          assertError(both, 400, {
            message: "Validation failed.",
            validations: [
              {
                field: "username",
                detail: `Validation failed for tag "username" with value: "${"x".repeat(33)}": must be <= 32 characters`
              },
              { field: "email", detail: `Validation failed for tag "email" with value: "no-at-sign"` }
            ]
          })
        }))

      it.effect("GET /users/me: the caller, admin included", () =>
        Effect.gen(function*() {
          const admin = yield* TestServer.clientFor(yield* adminToken)
          const self = yield* admin.users.me()
          assert.strictEqual(self.username, "admin")
          assert.strictEqual(self.email, "admin@localhost")
          assert.deepStrictEqual(self.roles, ["owner"])
          assert.deepStrictEqual(self.organization_ids, [yield* defaultOrganizationId])

          const member = yield* createUser()
          const me = yield* (yield* TestServer.clientFor(member.token)).users.me()
          assert.strictEqual(me.id, member.id)
          assert.deepStrictEqual(me.roles, ["member"])
        }))

      it.effect("POST /users/{user}/keys: for yourself by id, by me, by username in any case; each key works", () =>
        Effect.gen(function*() {
          const member = yield* createUser()
          for (const user of [member.id, "me", member.username, member.username.toUpperCase()]) {
            const response = yield* post(`/api/v2/users/${user}/keys`, member.token, {})
            assert.strictEqual(response.status, 201, `${user}: ${response.text}`)
            assert.deepStrictEqual(Object.keys(response.json), ["key"])
            assert.match(response.json.key, apiKeyPattern)
            assert.notStrictEqual(response.json.key, member.token)
            const me = yield* request("GET", "/api/v2/users/me", { token: response.json.key })
            assert.strictEqual(me.json.id, member.id)
          }
        }))

      it.effect("POST /users/{user}/keys: a member cannot issue a key for someone else; an owner can", () =>
        Effect.gen(function*() {
          const member = yield* createUser()
          const other = yield* createUser()
          const before = yield* keysOf(other.id)
          for (const user of [other.id, other.username]) {
            assertError(yield* post(`/api/v2/users/${user}/keys`, member.token, {}), 403, forbiddenBody)
          }
          assert.strictEqual(yield* keysOf(other.id), before)

          const response = yield* post(`/api/v2/users/${other.username}/keys`, yield* adminToken, {})
          assert.strictEqual(response.status, 201)
          const me = yield* request("GET", "/api/v2/users/me", { token: response.json.key })
          assert.strictEqual(me.json.id, other.id)
          assert.strictEqual(yield* keysOf(other.id), before + 1)
        }))

      it.effect("POST /users/{user}/keys: an unknown user is 400", () =>
        Effect.gen(function*() {
          const member = yield* createUser()
          const id = randomUUID()
          for (const user of ["nobody-here", id]) {
            assertError(yield* post(`/api/v2/users/${user}/keys`, member.token, {}), 400, {
              message: `"user" must be an existing uuid or username.`,
              detail: `queried user="${user}"`
            })
          }
        }))

      it.effect("POST /organizations/{organization}/templates: 201 with the template and its first version", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          const organizationId = yield* defaultOrganizationId
          const name = uniqueName("claude")
          const response = yield* post(`/api/v2/organizations/default/templates`, token, {
            name,
            display_name: "Claude Code",
            icon: "/icon/claude.svg",
            app_url: "http://127.0.0.1:3284"
          })
          assert.strictEqual(response.status, 201, response.text)
          assert.deepStrictEqual(Object.keys(response.json).sort(), [
            "active_version_id",
            "display_name",
            "icon",
            "id",
            "name",
            "organization_id"
          ])
          assert.deepStrictEqual(
            { ...response.json, id: "", active_version_id: "" },
            {
              id: "",
              organization_id: organizationId,
              name,
              display_name: "Claude Code",
              icon: "/icon/claude.svg",
              active_version_id: ""
            }
          )
          assert.strictEqual(yield* activeVersionOf(response.json.id), response.json.active_version_id)
          const sql = yield* SqlClient.SqlClient
          const [version] = yield* sql<{ template_id: string; has_ai_task: boolean; app_url: string }>`
            SELECT template_id, has_ai_task, app_url FROM template_versions WHERE id = ${response.json.active_version_id}`
          assert.deepStrictEqual(version, {
            template_id: response.json.id,
            has_ai_task: true,
            app_url: "http://127.0.0.1:3284"
          })

          // The organization may also be named by its id.
          const byId = yield* post(`/api/v2/organizations/${organizationId}/templates`, token, {
            name: uniqueName("byid")
          })
          assert.strictEqual(byId.status, 201)
          assert.strictEqual(byId.json.organization_id, organizationId)
        }))

      it.effect("POST /organizations/{organization}/templates: a name taken in any case is 409", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          const name = uniqueName("twice")
          assert.strictEqual((yield* post(`/api/v2/organizations/default/templates`, token, { name })).status, 201)
          for (const again of [name, name.toUpperCase()]) {
            assertError(yield* post(`/api/v2/organizations/default/templates`, token, { name: again }), 409, {
              message: `Template with name ${JSON.stringify(again)} already exists.`
            })
          }
        }))

      it.effect("POST /organizations/{organization}/templates: 403 for a member, 400 for an unknown organization", () =>
        Effect.gen(function*() {
          const member = yield* createUser()
          const name = uniqueName("tpl")
          assertError(
            yield* post(`/api/v2/organizations/default/templates`, member.token, { name }),
            403,
            forbiddenBody
          )
          const sql = yield* SqlClient.SqlClient
          assert.strictEqual((yield* sql`SELECT 1 FROM templates WHERE name = ${name}`).length, 0)

          const token = yield* adminToken
          for (const organization of ["nowhere", randomUUID()]) {
            assertError(yield* post(`/api/v2/organizations/${organization}/templates`, token, { name }), 400, {
              message: `Organization "${organization}" does not exist.`
            })
          }
        }))

      it.effect("POST /organizations/{organization}/templates: an invalid name is 400 Validation failed", () =>
        Effect.gen(function*() {
          const response = yield* post(`/api/v2/organizations/default/templates`, yield* adminToken, {
            name: "bad name"
          })
          assertError(response, 400, {
            message: "Validation failed.",
            validations: [{
              field: "name",
              detail:
                `Validation failed for tag "template_name" with value: "bad name": must be alphanumeric with hyphens`
            }]
          })
        }))

      it.effect("POST /templates/{template}/versions: 201, and only activate: true moves the active version", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          const template = yield* createTemplate()

          const inactive = yield* post(`/api/v2/templates/${template.templateId}/versions`, token, {
            has_ai_task: false,
            app_url: "http://127.0.0.1:9999"
          })
          assert.strictEqual(inactive.status, 201, inactive.text)
          assert.deepStrictEqual(Object.keys(inactive.json).sort(), ["has_ai_task", "id", "template_id"])
          assert.deepStrictEqual({ ...inactive.json, id: "" }, {
            id: "",
            template_id: template.templateId,
            has_ai_task: false
          })
          assert.notStrictEqual(inactive.json.id, template.versionId)
          assert.strictEqual(yield* activeVersionOf(template.templateId), template.versionId)

          const active = yield* post(`/api/v2/templates/${template.templateId}/versions`, token, { activate: true })
          assert.strictEqual(active.status, 201)
          assert.deepStrictEqual({ ...active.json, id: "" }, {
            id: "",
            template_id: template.templateId,
            has_ai_task: true
          })
          assert.strictEqual(yield* activeVersionOf(template.templateId), active.json.id)

          const sql = yield* SqlClient.SqlClient
          const versions = yield* sql<{ id: string }>`
            SELECT id FROM template_versions WHERE template_id = ${template.templateId}`
          assert.sameMembers(versions.map((v) => v.id), [template.versionId, inactive.json.id, active.json.id])
        }))

      it.effect("POST /templates/{template}/versions: 404 for an unknown template, 403 for a member", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          for (const template of [randomUUID(), "not-a-uuid"]) {
            assertError(yield* post(`/api/v2/templates/${template}/versions`, token, {}), 404, standard404)
          }
          const template = yield* createTemplate()
          const member = yield* createUser()
          assertError(
            yield* post(`/api/v2/templates/${template.templateId}/versions`, member.token, { activate: true }),
            403,
            forbiddenBody
          )
          assert.strictEqual(yield* activeVersionOf(template.templateId), template.versionId)
        }))

      it.effect("a body that is not JSON is 400 Request body must be valid JSON., on every admin endpoint", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          const template = yield* createTemplate()
          const paths = [
            "/api/v2/users",
            "/api/v2/organizations/default/templates",
            `/api/v2/templates/${template.templateId}/versions`
          ]
          for (const path of paths) {
            const empty = yield* post(path, token, "")
            assertError(empty, 400, { message: "Request body must be valid JSON.", detail: "EOF" })
            for (const body of ["{not json", "{\"name\": }", "nul"]) {
              const response = yield* post(path, token, body)
              assert.strictEqual(response.status, 400, `${path} ${body}`)
              assert.deepStrictEqual(Object.keys(response.json), ["message", "detail"])
              assert.strictEqual(response.json.message, "Request body must be valid JSON.")
              assert.isAbove(response.json.detail.length, 0)
              assert.notInclude(response.text, "_tag")
            }
          }
          assert.strictEqual(yield* activeVersionOf(template.templateId), template.versionId)
        }))

      it.effect("an unknown route is 404 Route not found., with or without a token", () =>
        Effect.gen(function*() {
          const token = yield* adminToken
          for (
            const [method, path] of [
              // `/` is the web console's page (src/Console/); everything else of it is under /console.
              ["GET", "/nope"],
              ["GET", "/console/assets/nope.js"],
              ["GET", "/api/v2/nope"],
              ["POST", "/api/v2/users/me/nope"],
              ["GET", "/api/v3/users/me"],
              ["DELETE", "/api/v2/organizations/default/templates/x/y"]
            ] as const
          ) {
            assertError(yield* request(method, path), 404, { message: "Route not found." })
            assertError(yield* request(method, path, { token }), 404, { message: "Route not found." })
          }
        }))

      it.effect("no error body carries _tag, and the derived client decodes each error as its own class", () =>
        Effect.gen(function*() {
          const member = yield* createUser()
          const token = yield* adminToken
          const responses = [
            yield* request("GET", "/api/v2/users/me"),
            yield* request("GET", "/api/v2/users/me", { token: "bad" }),
            yield* post("/api/v2/users", member.token, { username: uniqueName("x"), email: "x@example.com" }),
            yield* post("/api/v2/users", token, { username: member.username, email: "x@example.com" }),
            yield* post("/api/v2/users", token, { username: "", email: "" }),
            yield* post("/api/v2/users", token, { username: 7 }),
            yield* post(`/api/v2/templates/${randomUUID()}/versions`, token, {}),
            yield* request("GET", "/api/v2/tasks-not-here", { token })
          ]
          assert.deepStrictEqual(responses.map((r) => r.status), [401, 401, 403, 409, 400, 400, 404, 404])
          for (const response of responses) {
            assert.notInclude(response.text, "_tag")
            assert.isString(response.json.message)
            for (const key of Object.keys(response.json)) assert.include(["message", "detail", "validations"], key)
          }

          const asMember = yield* TestServer.clientFor(member.token)
          const forbidden = yield* Effect.flip(
            asMember.users.create({ payload: { username: uniqueName("y"), email: "y@example.com" } })
          )
          assert.instanceOf(forbidden, Forbidden)
          assert.deepStrictEqual({ message: forbidden.message, detail: forbidden.detail }, forbiddenBody)
          const asAdmin = yield* TestServer.clientFor(token)
          const conflict = yield* Effect.flip(
            asAdmin.users.create({ payload: { username: member.username, email: "y@example.com" } })
          )
          assert.instanceOf(conflict, Conflict)
        }))
    })
  })
}
