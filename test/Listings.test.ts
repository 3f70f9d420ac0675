/**
 * The listings the tasks CLI needs: `GET /api/v2/users` (owners only, Coder's `{"users":[...],"count":N}`)
 * and `GET /api/v2/templates` (everyone: the templates of their organizations, a JSON array), through the
 * typed client and as raw JSON.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { adminToken, coderUserKeys, createTemplate, createUser, uniqueName } from "./support/Fixtures.ts"
import { request } from "./support/Http.ts"
import { goTime } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"

const forbiddenBody = {
  message: "Forbidden.",
  detail: "You don't have permission to view this content. If you believe this is a mistake, please contact " +
    "your administrator or try signing in with different credentials."
}

/** An organization no endpoint creates: written directly, as a second team's would be. */
const createOrganization = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const organization = { id: randomUUID(), name: uniqueName("team") }
  yield* sql`INSERT INTO organizations (id, name, created_at) VALUES (${organization.id}, ${organization.name}, now())`
  return organization
}).pipe(Effect.orDie)

const sortedByName = (names: ReadonlyArray<string>) =>
  [...names].sort((a, b) => a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0)

for (const backend of Backends.all) {
  layer(TestServer.layer(backend), { timeout: 120_000, excludeTestServices: true })(
    `listings [${backend.name}]`,
    (it) => {
      describe("GET /users", () => {
        it.effect("an owner gets every user by username, with the count, as /users/me shows each", () =>
          Effect.gen(function*() {
            const alice = yield* createUser()
            const bob = yield* createUser("owner")
            const admin = yield* TestServer.clientFor(yield* adminToken)
            const response = yield* admin.users.list()
            const sql = yield* SqlClient.SqlClient
            const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM users`
            assert.strictEqual(response.count, n)
            assert.strictEqual(response.users.length, n)
            const names = response.users.map((user) => user.username)
            assert.deepStrictEqual(names, sortedByName(names))
            for (const created of [alice, bob]) {
              const listed = response.users.find((user) => user.id === created.id)
              const me = yield* (yield* TestServer.clientFor(created.token)).users.me()
              assert.deepStrictEqual(listed, me)
            }
            assert.deepStrictEqual(response.users.find((user) => user.id === bob.id)?.roles, ["owner"])
            // Another owner sees the same list.
            const asBob = yield* (yield* TestServer.clientFor(bob.token)).users.list()
            assert.deepStrictEqual(asBob.users.map((user) => user.id), response.users.map((user) => user.id))
          }))

        it.effect("the wire shape is Coder's GetUsersResponse", () =>
          Effect.gen(function*() {
            const raw = yield* request("GET", "/api/v2/users", { token: yield* adminToken })
            assert.strictEqual(raw.status, 200, raw.text)
            assert.deepStrictEqual(Object.keys(raw.json), ["users", "count"])
            assert.strictEqual(raw.json.count, raw.json.users.length)
            const first = raw.json.users[0]
            assert.deepStrictEqual(Object.keys(first).sort(), coderUserKeys)
            assert.match(first.created_at, goTime)
          }))

        it.effect("a member is refused with the standard 403; no token is 401", () =>
          Effect.gen(function*() {
            const member = yield* createUser()
            const refused = yield* (yield* TestServer.clientFor(member.token)).users.list().pipe(Effect.flip)
            assert.strictEqual(refused._tag, "Forbidden")
            const raw = yield* request("GET", "/api/v2/users", { token: member.token })
            assert.strictEqual(raw.status, 403)
            assert.deepStrictEqual(raw.json, forbiddenBody)
            assert.strictEqual((yield* request("GET", "/api/v2/users")).status, 401)
          }))
      })

      describe("GET /templates", () => {
        it.effect("a member sees the templates of their organizations; an owner sees all; by name", () =>
          Effect.gen(function*() {
            const admin = yield* TestServer.clientFor(yield* adminToken)
            const team = yield* createOrganization
            const ours = yield* createTemplate()
            const theirs = yield* admin.templates.create({
              params: { organization: team.name },
              payload: { name: uniqueName("tpl"), display_name: "Theirs", icon: "/icon/x.svg" }
            })
            const member = yield* createUser()
            const teamMember = yield* admin.users.create({
              payload: { username: uniqueName("teamie"), email: "t@example.com", organization: team.name }
            })
            const { key: teamToken } = yield* admin.users.createApiKey({ params: { user: teamMember.id } })

            const asMember = yield* (yield* TestServer.clientFor(member.token)).templates.list()
            const memberIds = asMember.map((template) => template.id)
            assert.include(memberIds, ours.templateId)
            assert.notInclude(memberIds, theirs.id)
            assert.isTrue(asMember.every((template) => template.organization_id === member.organizationId))

            const asTeam = yield* (yield* TestServer.clientFor(teamToken)).templates.list()
            assert.deepStrictEqual(asTeam, [theirs])

            const asOwner = yield* admin.templates.list()
            const ownerIds = asOwner.map((template) => template.id)
            assert.include(ownerIds, ours.templateId)
            assert.include(ownerIds, theirs.id)
            const names = asOwner.map((template) => template.name)
            assert.deepStrictEqual(names, sortedByName(names))
            const listed = asOwner.find((template) => template.id === ours.templateId)
            assert.strictEqual(listed?.active_version_id, ours.versionId)
          }))

        it.effect("the active version follows a new activated version; the wire shape is an array of templates", () =>
          Effect.gen(function*() {
            const token = yield* adminToken
            const admin = yield* TestServer.clientFor(token)
            const template = yield* createTemplate()
            const version = yield* admin.templates.createVersion({
              params: { template: template.templateId },
              payload: { activate: true }
            })
            const raw = yield* request("GET", "/api/v2/templates", { token })
            assert.strictEqual(raw.status, 200, raw.text)
            assert.isTrue(Array.isArray(raw.json))
            const listed = raw.json.find((entry: { id: string }) => entry.id === template.templateId)
            assert.deepStrictEqual(Object.keys(listed), [
              "id",
              "organization_id",
              "name",
              "display_name",
              "icon",
              "active_version_id"
            ])
            assert.strictEqual(listed.active_version_id, version.id)
          }))

        it.effect("without a token: 401", () =>
          Effect.gen(function*() {
            const refused = yield* (yield* TestServer.clientFor()).templates.list().pipe(Effect.flip)
            assert.strictEqual(refused._tag, "Unauthorized")
          }))
      })
    }
  )
}
