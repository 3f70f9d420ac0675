/**
 * Bad input never becomes a 5xx: property-based requests (fast-check; every case asked for must run, a
 * run cut short by its time limit fails) against snapshot bodies, task create bodies, `q` and path
 * parameters, plus named cases. Every answer must be a 2xx, or a 4xx with Coder's body (`message`,
 * optional `detail` and `validations`, nothing else), within a bound.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import * as net from "node:net"
import * as Backends from "./support/Backends.ts"
import { adminToken, createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import { messagesBody, type RawResponse, send, snapshotPath } from "./support/Http.ts"
import { assertAsyncProperty } from "./support/Property.ts"
import * as TestServer from "./support/TestServer.ts"

const timeoutMs = 10_000

/** One request with fetch, bounded by `timeoutMs`; the body as given, no content type unless `headers` say. */
const call = (
  base: string,
  method: string,
  path: string,
  token: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {}
) => send(base, method, path, { token, headers, timeoutMs, ...(body === undefined ? {} : { body }) })

/** A 2xx, or a 4xx with exactly Coder's error body. */
const assertWellFormed = (answer: RawResponse, what: string) => {
  assert.isBelow(answer.status, 500, `${what}: ${answer.status} ${answer.text}`)
  assert.isAtLeast(answer.status, 200, what)
  if (answer.status < 400) return
  const body = JSON.parse(answer.text)
  assert.isString(body.message, what)
  for (const key of Object.keys(body)) assert.include(["message", "detail", "validations"], key, what)
}

const setup = Effect.gen(function*() {
  const owner = yield* createUser()
  const template = yield* createTemplate()
  const task = yield* createTaskWorkspace(owner, template)
  return { owner, template, task, base: (yield* TestServer.baseUrl).url, admin: yield* adminToken }
})

/** Strings that reach every corner: unicode, NUL and control characters, quotes, SQL. */
const nasty = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("\u0000", "a\u0000b", "'; DROP TABLE tasks; --", "\"", "\\", "%00", "\ud800", "me", "", " ")
)

/** Every one of `numRuns` cases must run and hold: a run cut short by the time limit fails (Property.ts). */
const check = <Ts extends Array<unknown>>(property: fc.IAsyncProperty<Ts>, numRuns: number) =>
  assertAsyncProperty(property, { numRuns, timeLimitMs: 40_000 })

for (const backend of Backends.all) {
  layer(TestServer.layer(backend), { timeout: 120_000 })(`bad input [${backend.name}]`, (it) => {
    it.effect("snapshot bodies: arbitrary JSON, arbitrary bytes, mutated messages", () =>
      Effect.gen(function*() {
        const { base, task } = yield* setup
        const message = fc.record({
          id: fc.oneof(fc.integer(), fc.double(), fc.bigInt().map(String), fc.constant(null)),
          content: nasty,
          role: nasty,
          time: fc.oneof(nasty, fc.date({ noInvalidDate: true }).map((d) => d.toISOString()))
        }, { requiredKeys: [] })
        const body = fc.oneof(
          fc.json(),
          fc.uint8Array({ maxLength: 200 }),
          fc.array(message, { maxLength: 5 }).map((messages) => JSON.stringify({ messages }))
        )
        yield* check(
          fc.asyncProperty(body, async (payload) => {
            const answer = await call(base, "POST", snapshotPath(task.taskId), task.agentToken, payload)
            assertWellFormed(answer, `upload ${String(payload).slice(0, 80)}`)
          }),
          60
        )
      }))

    it.effect("task create bodies: arbitrary JSON and nasty names, display names and prompts", () =>
      Effect.gen(function*() {
        const { admin, base, template } = yield* setup
        const body = fc.oneof(
          fc.json(),
          fc.record({
            template_version_id: fc.oneof(fc.constant(template.versionId), nasty),
            input: nasty,
            name: nasty,
            display_name: nasty
          }, { requiredKeys: ["template_version_id"] }).map((b) => JSON.stringify(b))
        )
        yield* check(
          fc.asyncProperty(body, async (payload) => {
            const answer = await call(base, "POST", "/api/v2/tasks/me", admin, payload)
            assertWellFormed(answer, `create ${payload.slice(0, 120)}`)
          }),
          60
        )
      }))

    it.effect("`q` strings and path parameters", () =>
      Effect.gen(function*() {
        const { admin, base } = yield* setup
        yield* check(
          fc.asyncProperty(nasty, async (q) => {
            assertWellFormed(
              await call(base, "GET", `/api/v2/tasks?q=${encodeURIComponent(q.toWellFormed())}`, admin),
              `q=${JSON.stringify(q)}`
            )
          }),
          50
        )
        yield* check(
          fc.asyncProperty(nasty, nasty, async (user, task) => {
            const path = `/api/v2/tasks/${encodeURIComponent(user.toWellFormed())}/${
              encodeURIComponent(task.toWellFormed())
            }`
            assertWellFormed(await call(base, "GET", path, admin), `GET ${path}`)
            assertWellFormed(
              await call(base, "PATCH", `${path}/input`, admin, JSON.stringify({ input: "x" })),
              `PATCH ${path}`
            )
            assertWellFormed(
              await call(base, "POST", snapshotPath(encodeURIComponent(task.toWellFormed())), admin),
              `upload ${task}`
            )
          }),
          40
        )
      }))

    it.effect("named cases: NUL, invalid UTF-8, deep nesting, huge arrays, int64 ids, duplicate keys, content types", () =>
      Effect.gen(function*() {
        const { admin, base, task, template } = yield* setup
        const upload = (body: string | Uint8Array, headers = {}) =>
          Effect.promise(() => call(base, "POST", snapshotPath(task.taskId), task.agentToken, body, headers))
        const nul = yield* upload(JSON.stringify({ messages: [{ id: 1, content: "a\u0000b", role: "agent" }] }))
        assert.strictEqual(nul.status, 400)
        assert.deepStrictEqual(JSON.parse(nul.text), {
          message: "Snapshot contains text that cannot be stored.",
          detail: "messages[0] contains a NUL character (\\u0000), which PostgreSQL cannot store in jsonb."
        })
        const invalidUtf8 = Buffer.concat([
          Buffer.from(`{"messages":[{"id":1,"role":"agent","content":"`),
          Buffer.from([0xff, 0xfe, 0xc3]),
          Buffer.from(`"}]}`)
        ])
        assert.strictEqual((yield* upload(invalidUtf8)).status, 204)
        const deep = "[".repeat(30_000) + "]".repeat(30_000)
        assertWellFormed(yield* upload(`{"messages":${deep}}`), "deep nesting")
        assert.strictEqual((yield* upload(`{"messages":${deep}}`)).status, 400)
        const huge = JSON.stringify({ messages: Array.from({ length: 20_000 }, () => ({})) })
        assert.isBelow(huge.length, 65_536)
        assert.strictEqual((yield* upload(huge)).status, 204)
        // Message ids are Go int64s: every one is taken (2^53 + 1 included), anything outside is refused.
        for (const id of ["9007199254740993", "9223372036854775807", "-9223372036854775808"]) {
          const answer = yield* upload(`{"messages":[{"id":${id},"role":"agent"}]}`)
          assert.strictEqual(answer.status, 204, `${id}: ${answer.text}`)
        }
        for (const id of ["9223372036854775808", "1e400", "-9223372036854775809"]) {
          const answer = yield* upload(`{"messages":[{"id":${id},"role":"agent"}]}`)
          assert.strictEqual(answer.status, 400, id)
          assertWellFormed(answer, id)
        }
        assert.strictEqual((yield* upload(`{"messages":[{"id":1}],"messages":[{"id":2}]}`)).status, 204)
        const oneMessage = messagesBody([{ id: 1, content: "x", role: "agent" }])
        assert.strictEqual((yield* upload(oneMessage, { "content-type": "text/plain" })).status, 204)
        assert.strictEqual((yield* upload(oneMessage, { "content-type": "" })).status, 204)
        const create = (body: unknown) =>
          Effect.promise(() => call(base, "POST", "/api/v2/tasks/me", admin, JSON.stringify(body)))
        for (const field of ["input", "display_name", "name"]) {
          const answer = yield* create({ template_version_id: template.versionId, input: "x", [field]: "a\u0000b" })
          assert.strictEqual(answer.status, 400, `${field}: ${answer.text}`)
          assertWellFormed(answer, field)
        }
      }))

    it.effect("a body that stops halfway: the server stays up and the next request works", () =>
      Effect.gen(function*() {
        const { host, port } = yield* TestServer.baseUrl
        const { base, task } = yield* setup
        for (let i = 0; i < 5; i++) {
          yield* Effect.promise(() =>
            new Promise<void>((resolve) => {
              const socket = net.connect(port, host, () => {
                socket.write(
                  `POST ${
                    snapshotPath(task.taskId)
                  } HTTP/1.1\r\nHost: x\r\ncoder-session-token: ${task.agentToken}\r\n` +
                    `content-length: 1000\r\n\r\n{"messages":[{"content":"`
                )
                setTimeout(() => {
                  socket.destroy()
                  resolve()
                }, 100)
              })
              socket.on("error", () => resolve())
            })
          )
        }
        const answer = yield* Effect.promise(() =>
          call(base, "POST", snapshotPath(task.taskId), task.agentToken, messagesBody([]))
        )
        assert.strictEqual(answer.status, 204)
      }))
  })
}
