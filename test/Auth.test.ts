/**
 * User token authentication through HTTP (spec §1.2), on `GET /api/v2/users/me`: where the token is read
 * from, each 401 with its exact body, and that only hashes of tokens are stored.
 */
import { assert, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import * as Backends from "./support/Backends.ts"
import { createTaskWorkspace, createTemplate, createUser, type TestUser } from "./support/Fixtures.ts"
import { messagesBody, request, upload } from "./support/Http.ts"
import * as ManualClock from "./support/ManualClock.ts"
import * as TestServer from "./support/TestServer.ts"

const me = "/api/v2/users/me"

const signedOut = (detail: string) => ({
  message: "You are signed out or your session has expired. Please sign in again to continue.",
  detail
})

/** A well-formed key (10-char id, 22-char secret) that was never issued. */
const neverIssued = () => `${randomBytes(5).toString("hex")}-${randomBytes(11).toString("hex")}`

const secretOf = (token: string) => token.split("-")[1]!

/** `GET /users/me` answered 200 for `user`. */
const assertIsUser = (response: { readonly status: number; readonly json: any }, user: TestUser) => {
  assert.strictEqual(response.status, 200)
  assert.strictEqual(response.json.id, user.id)
  assert.strictEqual(response.json.username, user.username)
}

/** A 401 with exactly Coder's signed-out body. */
const assertSignedOut = (response: { readonly status: number; readonly json: any }, detail: string) => {
  assert.strictEqual(response.status, 401)
  assert.deepStrictEqual(response.json, signedOut(detail))
}

for (const backend of Backends.all) {
  // taskd reads the test's clock (key expiry): a manual one, as ManualClock.ts explains.
  const time = ManualClock.make()
  layer(Layer.merge(TestServer.layer(backend, { clock: time.clock }), time.layer), {
    timeout: 120_000,
    excludeTestServices: true
  })(`user token auth [${backend.name}]`, (it) => {
    it.effect("the Coder-Session-Token header", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        assertIsUser(yield* request("GET", me, { token: user.token }), user)
      }))

    it.effect("the coder_session_token cookie", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const response = yield* request("GET", me, {
          headers: { cookie: `theme=dark; coder_session_token=${user.token}` }
        })
        assertIsUser(response, user)
      }))

    it.effect("the coder_session_token query parameter", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        assertIsUser(yield* request("GET", `${me}?coder_session_token=${user.token}`), user)
      }))

    it.effect("Authorization: Bearer, and the access_token query parameter (RFC 6750, newer Coder)", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        assertIsUser(yield* request("GET", me, { headers: { authorization: `Bearer ${user.token}` } }), user)
        assertIsUser(yield* request("GET", me, { headers: { authorization: `bearer ${user.token}` } }), user)
        assertIsUser(yield* request("GET", `${me}?access_token=${user.token}`), user)
      }))

    it.effect("sources are read in Coder's order: cookie, query parameter, header", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const wrong = neverIssued()
        // The first source that has a token decides, even when a later one holds a valid token.
        assertIsUser(
          yield* request("GET", `${me}?coder_session_token=${wrong}`, {
            token: wrong,
            headers: { cookie: `coder_session_token=${user.token}` }
          }),
          user
        )
        assertIsUser(yield* request("GET", `${me}?coder_session_token=${user.token}`, { token: wrong }), user)
        assertSignedOut(
          yield* request("GET", me, { token: user.token, headers: { cookie: `coder_session_token=${wrong}` } }),
          "API key is invalid."
        )
        assertSignedOut(
          yield* request("GET", `${me}?coder_session_token=${wrong}`, { token: user.token }),
          "API key is invalid."
        )
      }))

    it.effect("no token, or an empty one: 401 asking for the cookie", () =>
      Effect.gen(function*() {
        const detail = `Cookie "coder_session_token" or query parameter must be provided.`
        assertSignedOut(yield* request("GET", me), detail)
        assertSignedOut(yield* request("GET", me, { token: "" }), detail)
        assertSignedOut(yield* request("GET", `${me}?coder_session_token=`), detail)
        assertSignedOut(yield* request("GET", me, { headers: { authorization: "Bearer " } }), detail)
        assertSignedOut(yield* request("GET", me, { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } }), detail)
      }))

    it.effect("malformed keys: 401 Invalid API key format, in Coder's words", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [string, string]> = [
          ["nodashatall", "incorrect amount of API key parts, expected 2 got 1"],
          [`abcdefghij-${"s".repeat(22)}-extra`, "incorrect amount of API key parts, expected 2 got 3"],
          [`short-${"s".repeat(22)}`, "invalid API key ID length, expected 10 got 5"],
          [`abcdefghijk-${"s".repeat(22)}`, "invalid API key ID length, expected 10 got 11"],
          ["abcdefghij-short", "invalid API key secret length, expected 22 got 5"],
          [`abcdefghij-${"s".repeat(23)}`, "invalid API key secret length, expected 22 got 23"]
        ]
        for (const [token, reason] of cases) {
          assertSignedOut(yield* request("GET", me, { token }), `Invalid API key format: ${reason}`)
        }
      }))

    it.effect("an unknown key id: 401 API key is invalid.", () =>
      Effect.gen(function*() {
        assertSignedOut(yield* request("GET", me, { token: neverIssued() }), "API key is invalid.")
      }))

    it.effect("a known id with the wrong secret: 401 API key secret is invalid.", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const [id] = user.token.split("-")
        const response = yield* request("GET", me, { token: `${id}-${"x".repeat(22)}` })
        assertSignedOut(response, "API key secret is invalid.")
        // The same secret in another case is another secret.
        const flipped = secretOf(user.token).replace(/[a-z]/, (c) => c.toUpperCase())
        if (flipped !== secretOf(user.token)) {
          assertSignedOut(yield* request("GET", me, { token: `${id}-${flipped}` }), "API key secret is invalid.")
        }
      }))

    it.effect("a key expires 30 days after it was issued: 401 API key expired at", () =>
      Effect.gen(function*() {
        yield* time.setTime(Date.parse("2030-01-01T00:00:00.120Z"))
        const user = yield* createUser()
        yield* time.adjust(Duration.subtract(Duration.days(30), Duration.seconds(1)))
        assertIsUser(yield* request("GET", me, { token: user.token }), user)
        yield* time.adjust(Duration.seconds(2))
        assertSignedOut(
          yield* request("GET", me, { token: user.token }),
          `API key expired at "2030-01-31T00:00:00.12Z".`
        )
      }))

    it.effect("a workspace agent token is not a user key", () =>
      Effect.gen(function*() {
        const owner = yield* createUser()
        const task = yield* createTaskWorkspace(owner, yield* createTemplate())
        assertSignedOut(
          yield* request("GET", me, { token: task.agentToken }),
          "Invalid API key format: incorrect amount of API key parts, expected 2 got 5"
        )
        assertSignedOut(
          yield* request("GET", me, { headers: { authorization: `Bearer ${randomUUID()}` } }),
          "Invalid API key format: incorrect amount of API key parts, expected 2 got 5"
        )
      }))

    it.effect("only SHA-256 hashes of secrets are stored", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const owner = yield* createUser()
        const task = yield* createTaskWorkspace(owner, yield* createTemplate())
        const [id, secret] = owner.token.split("-") as [string, string]

        const [key] = yield* sql<{ hashed_secret: Uint8Array }>`SELECT hashed_secret FROM api_keys WHERE id = ${id}`
        assert.deepStrictEqual(
          Buffer.from(key!.hashed_secret),
          createHash("sha256").update(secret).digest()
        )

        // No column of any stored key or agent holds a secret, as text or as its bytes in hex.
        const rows = yield* sql<{ row: string }>`
          SELECT row_to_json(k)::text AS row FROM api_keys k
          UNION ALL SELECT row_to_json(a)::text FROM workspace_agents a`
        assert.isAtLeast(rows.length, 2)
        const forbidden = [owner.token, secret, task.agentToken, task.agentToken.replaceAll("-", "")]
          .flatMap((s) => [s.toLowerCase(), Buffer.from(s).toString("hex")])
        for (const { row } of rows) {
          for (const needle of forbidden) assert.notInclude(row.toLowerCase(), needle)
        }

        // And the stored hash is what the server checks: the tokens still work.
        assertIsUser(yield* request("GET", me, { token: owner.token }), owner)
        const uploaded = yield* upload(task.agentToken, task.taskId, messagesBody([]))
        assert.strictEqual(uploaded.status, 204)
      }))
  })
}
