/**
 * The agent-side snapshot uploader (spec §7.6): the trimming policy with exact byte counts around 64 KiB,
 * the upload against a fake agentapi and a fake Coder that record what they get, the same upload into
 * the real taskd server, and the `taskd agent snapshot` command's exit codes. Live clock: timeouts are real.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import {
  encodePayload,
  maxContentChars,
  payloadBytes,
  trimForSnapshot,
  truncationPrefix
} from "../src/AgentApi/Trim.ts"
import { type UploadOptions, uploadSnapshot } from "../src/AgentApi/Uploader.ts"
import type { Message, MessagesResponse } from "../src/Domain/AgentApi.ts"
import * as Backends from "./support/Backends.ts"
import { fakeServer, type Handler, respond, silent } from "./support/FakeHttp.ts"
import { createTaskWorkspace, createTemplate, createUser, storedSnapshot } from "./support/Fixtures.ts"
import { snapshotPath } from "./support/Http.ts"
import { freePort } from "./support/Net.ts"
import * as TestServer from "./support/TestServer.ts"

const time = "2025-01-01T10:00:00Z"
const message = (id: number, content: string): Message => ({
  content,
  id,
  role: id % 2 === 0 ? "agent" : "user",
  time
})

/** `count` messages whose upload encoding is exactly `bytes` bytes; the padding goes to message `padded`. */
const conversationOf = (count: number, bytes: number, padded = 0): MessagesResponse => {
  const messages = Array.from({ length: count }, (_, i) => message(i, `message ${i}`))
  const pad = bytes - payloadBytes({ messages })
  messages[padded] = message(padded, `message ${padded}${"x".repeat(pad)}`)
  const conversation = { messages }
  assert.strictEqual(payloadBytes(conversation), bytes)
  return conversation
}

const ids = (payload: MessagesResponse | undefined) => payload?.messages.map((m) => m.id)
const utf8Length = (text: string) => Buffer.byteLength(text, "utf8")

describe("trimForSnapshot", () => {
  it("keeps the last 10 of more than 10 messages", () => {
    const twelve = { messages: Array.from({ length: 12 }, (_, i) => message(i, `m${i}`)) }
    assert.deepStrictEqual(ids(trimForSnapshot(twelve)), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    const ten = { messages: twelve.messages.slice(0, 10) }
    assert.strictEqual(trimForSnapshot(ten), ten)
  })

  it("keeps a payload of exactly 65,536 bytes whole", () => {
    const conversation = conversationOf(10, 65_536)
    const trimmed = trimForSnapshot(conversation)
    assert.deepStrictEqual(trimmed, conversation)
    assert.strictEqual(utf8Length(encodePayload(trimmed!)), 65_536)
  })

  it("drops only the oldest message at 65,537 bytes", () => {
    const conversation = conversationOf(10, 65_537)
    const trimmed = trimForSnapshot(conversation)
    assert.deepStrictEqual(ids(trimmed), [1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.deepStrictEqual(trimmed?.messages, conversation.messages.slice(1))
    // The oldest message and its comma are gone, nothing else.
    const oldest = utf8Length(JSON.stringify(conversation.messages[0]))
    assert.strictEqual(payloadBytes(trimmed!), 65_537 - oldest - 1)
  })

  it("drops the oldest messages one by one until the rest fits, counting after the 10-message cut", () => {
    // After the cut to 2..11, 2 and 3 must both go (3 and 4 alone are 70,000 bytes); 4 then fits with the rest.
    const big: Record<number, number> = { 2: 40_000, 3: 50_000, 4: 20_000 }
    const messages = Array.from({ length: 12 }, (_, i) => message(i, "y".repeat(big[i] ?? 1)))
    assert.deepStrictEqual(ids(trimForSnapshot({ messages })), [4, 5, 6, 7, 8, 9, 10, 11])
    // One byte over with the big message newest: the older ones go first, then its content is cut.
    const newestBig = [message(0, "old"), message(1, "z".repeat(70_000))]
    const trimmed = trimForSnapshot({ messages: newestBig })
    assert.deepStrictEqual(ids(trimmed), [1])
    assert.isTrue(trimmed!.messages[0].content.startsWith(truncationPrefix))
  })

  it("keeps $schema", () => {
    const conversation = {
      $schema: "http://localhost:3284/schemas/MessagesResponseBody.json",
      ...conversationOf(3, 70_000)
    }
    const trimmed = trimForSnapshot(conversation)
    assert.strictEqual(trimmed?.$schema, conversation.$schema)
    assert.isTrue(encodePayload(trimmed!).startsWith(`{"$schema":"http://localhost:3284/schemas/`))
  })

  it("cuts a single huge message to the last 57,344 characters behind the exact prefix", () => {
    const content = `HEAD${"a".repeat(100_000)}${"0123456789".repeat(10)}TAIL`
    const trimmed = trimForSnapshot({ messages: [message(7, content)] })
    assert.strictEqual(trimmed?.messages.length, 1)
    const kept = trimmed!.messages[0]
    assert.deepStrictEqual({ ...kept, content: "" }, { ...message(7, ""), content: "" })
    assert.strictEqual(kept.content, "[...content truncated, showing last 56KB...]\n\n" + content.slice(-57_344))
    assert.strictEqual(kept.content.length, truncationPrefix.length + 57_344)
    assert.strictEqual(maxContentChars, 57_344)
    assert.isAtMost(payloadBytes(trimmed!), 65_536)
  })

  it("a single message of exactly 65,536 bytes is kept, one byte more is cut", () => {
    const exact = conversationOf(1, 65_536)
    assert.strictEqual(trimForSnapshot(exact), exact)
    const over = conversationOf(1, 65_537)
    const trimmed = trimForSnapshot(over)
    assert.strictEqual(trimmed!.messages[0].content, truncationPrefix + over.messages[0].content.slice(-57_344))
  })

  it("counts characters as code points, never splitting a surrogate pair", () => {
    const content = `${"x".repeat(70_000)}${"😀".repeat(10)}`
    const kept = trimForSnapshot({ messages: [message(0, content)] })!.messages[0].content.slice(
      truncationPrefix.length
    )
    assert.strictEqual(Array.from(kept).length, 57_344)
    assert.strictEqual(kept, `${"x".repeat(57_334)}${"😀".repeat(10)}`)
  })

  it("gives up when even the cut message is over 64 KiB (escaped or multi-byte characters)", () => {
    // 57,344 control characters are 6 bytes each once JSON-escaped; 57,344 CJK characters 3 bytes each.
    assert.isUndefined(trimForSnapshot({ messages: [message(0, "\u0001".repeat(60_000))] }))
    assert.isUndefined(trimForSnapshot({ messages: [message(0, "漢".repeat(60_000))] }))
    // 21,000 CJK characters (63,000 bytes) fit as they are.
    assert.strictEqual(trimForSnapshot({ messages: [message(0, "漢".repeat(21_000))] })?.messages.length, 1)
  })
})

const taskId = "6a1f9f0e-0b7a-4d3f-9a55-2f1d1c0ffee0"
const fetchClient = FetchHttpClient.layer

/** Runs the uploader between a fake agentapi and a fake Coder. */
const run = (agentapiHandler: Handler, coderHandler: Handler, options: Partial<UploadOptions> = {}) =>
  Effect.gen(function*() {
    const agentapi = yield* fakeServer(agentapiHandler)
    const coder = yield* fakeServer(coderHandler)
    const started = Date.now()
    const outcome = yield* uploadSnapshot({
      agentUrl: coder.url,
      agentToken: "agent-token-secret",
      taskId,
      agentApiUrl: agentapi.url,
      ...options
    }).pipe(Effect.provide(fetchClient))
    return { outcome, agentapi, coder, elapsed: Date.now() - started }
  })

describe("uploadSnapshot", () => {
  it.live("uploads the last 10 messages as re-encoded JSON, with the agent token, to the task's endpoint", () =>
    Effect.gen(function*() {
      const raw = {
        $schema: "http://localhost:3284/schemas/MessagesResponseBody.json",
        truncated: false,
        messages: Array.from({ length: 12 }, (_, i) => ({
          id: i,
          content: `m${i}`,
          role: i % 2 === 0 ? "agent" : "user",
          time: "2025-01-01T10:00:00.500+00:00",
          extra: "dropped"
        }))
      }
      const { agentapi, coder, outcome } = yield* run(respond(200, raw), respond(204))
      assert.strictEqual(agentapi.requests.length, 1)
      assert.strictEqual(agentapi.requests[0].path, "/messages")

      assert.strictEqual(coder.requests.length, 1)
      const [upload] = coder.requests
      assert.strictEqual(upload.method, "POST")
      assert.strictEqual(upload.path, snapshotPath(taskId, ""))
      assert.strictEqual(upload.query, "format=agentapi")
      assert.strictEqual(upload.headers["coder-session-token"], "agent-token-secret")
      assert.strictEqual(upload.headers["content-type"], "application/json")
      const expected = `{"$schema":"http://localhost:3284/schemas/MessagesResponseBody.json","messages":[` +
        Array.from(
          { length: 10 },
          (_, k) =>
            `{"content":"m${k + 2}","id":${k + 2},"role":"${k % 2 === 0 ? "agent" : "user"}",` +
            `"time":"2025-01-01T10:00:00.5Z"}`
        ).join(",") + "]}"
      assert.strictEqual(upload.body.toString("utf8"), expected)
      assert.deepStrictEqual(outcome, { _tag: "Uploaded", messages: 10, bytes: utf8Length(expected) } as any)
    }))

  it.live("int64 message ids go up with every digit", () =>
    Effect.gen(function*() {
      const ids = ["9007199254740993", "-9223372036854775808", "9223372036854775807", "3"]
      const answer = `{"messages":[${
        ids.map((id) => `{"id":${id},"content":"c","role":"agent","time":"${time}"}`).join(",")
      }]}`
      const { coder, outcome } = yield* run(respond(200, answer, { raw: true }), respond(204))
      assert.strictEqual(outcome._tag, "Uploaded")
      assert.strictEqual(
        coder.requests[0].body.toString("utf8"),
        `{"messages":[${ids.map((id) => `{"content":"c","id":${id},"role":"agent","time":"${time}"}`).join(",")}]}`
      )
    }))

  it.live("a conversation of exactly 65,536 bytes goes up whole; at 65,537 bytes without its oldest message", () =>
    Effect.gen(function*() {
      const exact = conversationOf(10, 65_536)
      const whole = yield* run(respond(200, exact), respond(204))
      assert.strictEqual(whole.coder.requests[0].body.byteLength, 65_536)
      assert.strictEqual(whole.coder.requests[0].body.toString("utf8"), encodePayload(exact))
      assert.deepStrictEqual(whole.outcome, { _tag: "Uploaded", messages: 10, bytes: 65_536 } as any)

      const over = conversationOf(10, 65_537)
      const trimmed = yield* run(respond(200, over), respond(204))
      const body = trimmed.coder.requests[0].body
      assert.strictEqual(body.toString("utf8"), encodePayload({ messages: over.messages.slice(1) }))
      assert.strictEqual(body.byteLength, 65_537 - utf8Length(JSON.stringify(over.messages[0])) - 1)
      assert.deepStrictEqual(JSON.parse(body.toString("utf8")).messages.map((m: Message) => m.id), [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9
      ])
    }))

  it.live("a single huge message goes up with the tail of its content behind the prefix", () =>
    Effect.gen(function*() {
      const content = `${"a".repeat(80_000)}THE END`
      const { coder, outcome } = yield* run(respond(200, { messages: [message(3, content)] }), respond(204))
      const sent = JSON.parse(coder.requests[0].body.toString("utf8"))
      assert.strictEqual(sent.messages[0].content, truncationPrefix + content.slice(-57_344))
      assert.isAtMost(coder.requests[0].body.byteLength, 65_536)
      assert.strictEqual(outcome._tag, "Uploaded")
    }))

  it.live("gives up without uploading when the last message cannot fit", () =>
    Effect.gen(function*() {
      const { coder, outcome } = yield* run(
        respond(200, { messages: [message(0, "\u0001".repeat(60_000))] }),
        respond(204)
      )
      assert.strictEqual(coder.requests.length, 0)
      assert.strictEqual(outcome._tag, "Failed")
    }))

  it.live("no messages: skipped, nothing uploaded", () =>
    Effect.gen(function*() {
      const { agentapi, coder, outcome } = yield* run(respond(200, { messages: [] }), respond(204))
      assert.strictEqual(agentapi.requests.length, 1)
      assert.strictEqual(coder.requests.length, 0)
      assert.deepStrictEqual(outcome, { _tag: "Skipped", reason: "no messages" } as any)
    }))

  it.live("no task id: skipped before agentapi is asked", () =>
    Effect.gen(function*() {
      const { agentapi, coder, outcome } = yield* run(respond(200, conversationOf(2, 200)), respond(204), {
        taskId: ""
      })
      assert.strictEqual(agentapi.requests.length, 0)
      assert.strictEqual(coder.requests.length, 0)
      assert.deepStrictEqual(outcome, { _tag: "Skipped", reason: "no task id" } as any)
    }))

  it.live("404: the server does not support snapshots, which is not an error", () =>
    Effect.gen(function*() {
      const { coder, outcome } = yield* run(respond(200, conversationOf(2, 200)), respond(404, { message: "nope" }))
      assert.strictEqual(coder.requests.length, 1)
      assert.deepStrictEqual(outcome, { _tag: "NotSupported", detail: "this server does not support snapshots" } as any)
    }))

  it.live("any other status is Failed, with the server's message", () =>
    Effect.gen(function*() {
      const failed = yield* run(
        respond(200, conversationOf(2, 200)),
        respond(500, { message: "Internal error storing snapshot.", detail: "db down" })
      )
      assert.deepStrictEqual(failed.outcome, {
        _tag: "Failed",
        reason: "status 500: Internal error storing snapshot. db down"
      } as any)
      const unauthorized = yield* run(respond(200, conversationOf(2, 200)), respond(401))
      assert.deepStrictEqual(unauthorized.outcome, { _tag: "Failed", reason: "status 401" } as any)
    }))

  it.live("agentapi down: Failed at once, nothing uploaded", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { coder, elapsed, outcome } = yield* run(silent, respond(204), {
        agentApiUrl: undefined,
        agentApiPort: port
      })
      assert.strictEqual(coder.requests.length, 0)
      assert.strictEqual(outcome._tag, "Failed")
      assert.match((outcome as { reason: string }).reason, new RegExp(`^GET http://localhost:${port}/messages: `))
      assert.isBelow(elapsed, 2000)
    }))

  it.live("reads agentapi on localhost at the given port", () =>
    Effect.gen(function*() {
      const agentapi = yield* fakeServer(respond(200, conversationOf(2, 200)))
      const { agentapi: unused, coder, outcome } = yield* run(silent, respond(204), {
        agentApiUrl: undefined,
        agentApiPort: agentapi.port
      })
      assert.strictEqual(unused.requests.length, 0)
      assert.strictEqual(agentapi.requests.length, 1)
      assert.strictEqual(coder.requests.length, 1)
      assert.strictEqual(outcome._tag, "Uploaded")
    }))

  it.live("agentapi failing or hanging, the upload hanging: Failed after the timeouts", () =>
    Effect.gen(function*() {
      const error = yield* run(respond(500), respond(204))
      assert.strictEqual(error.outcome._tag, "Failed")
      assert.match((error.outcome as { reason: string }).reason, /\/messages: status 500$/)
      assert.strictEqual(error.coder.requests.length, 0)

      const hanging = yield* run(silent, respond(204), { fetchTimeout: "300 millis" })
      assert.match((hanging.outcome as { reason: string }).reason, /\/messages: timed out after 300ms$/)
      assert.isBelow(hanging.elapsed, 2000)

      const slowUpload = yield* run(respond(200, conversationOf(2, 200)), silent, { postTimeout: "300 millis" })
      assert.strictEqual(slowUpload.outcome._tag, "Failed")
      assert.match(
        (slowUpload.outcome as { reason: string }).reason,
        /log-snapshot\?format=agentapi: timed out after 300ms$/
      )
      assert.isBelow(slowUpload.elapsed, 2000)
    }))

  it.live("never fails, even on an HttpClient that dies", () =>
    Effect.gen(function*() {
      const dying = Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make(() => Effect.die(new Error("tunnel exploded")))
      )
      const outcome = yield* uploadSnapshot({ agentUrl: "http://coder", agentToken: "t", taskId }).pipe(
        Effect.provide(dying)
      )
      assert.strictEqual(outcome._tag, "Failed")
      assert.include((outcome as { reason: string }).reason, "tunnel exploded")
    }))
})

for (const backend of Backends.all) {
  describe(`uploadSnapshot into taskd [${backend.name}]`, () => {
    layer(TestServer.layer(backend), { timeout: 120_000 })((it) => {
      it.effect("the server stores what the uploader sends, up to exactly 64 KiB", () =>
        Effect.gen(function*() {
          const owner = yield* createUser()
          const template = yield* createTemplate()
          const task = yield* createTaskWorkspace(owner, template)
          const { url } = yield* TestServer.baseUrl
          const upload = (conversation: unknown) =>
            Effect.gen(function*() {
              const agentapi = yield* fakeServer(respond(200, conversation))
              return yield* uploadSnapshot({
                agentUrl: `${url}/`,
                agentToken: task.agentToken,
                taskId: task.taskId,
                agentApiUrl: agentapi.url
              }).pipe(Effect.provide(fetchClient))
            })

          const twelve = {
            $schema: "http://localhost:3284/schemas/MessagesResponseBody.json",
            messages: Array.from({ length: 12 }, (_, i) => message(i, `message ${i}`))
          }
          assert.strictEqual((yield* upload(twelve))._tag, "Uploaded")
          assert.deepStrictEqual((yield* storedSnapshot(task.taskId))?.log_snapshot, {
            format: "agentapi",
            data: { $schema: twelve.$schema, messages: twelve.messages.slice(2) }
          })

          const exact = conversationOf(10, 65_536)
          assert.deepStrictEqual(yield* upload(exact), { _tag: "Uploaded", messages: 10, bytes: 65_536 } as any)
          assert.deepStrictEqual((yield* storedSnapshot(task.taskId))?.log_snapshot, {
            format: "agentapi",
            data: exact
          })

          const huge = { messages: [message(0, "old"), message(1, `${"b".repeat(90_000)}end`)] }
          assert.strictEqual((yield* upload(huge))._tag, "Uploaded")
          const stored = (yield* storedSnapshot(task.taskId))?.log_snapshot as { data: MessagesResponse }
          assert.deepStrictEqual(ids(stored.data), [1])
          assert.strictEqual(
            stored.data.messages[0].content,
            truncationPrefix + huge.messages[1].content.slice(-57_344)
          )

          // Another task's id with this agent's token: the server's 404, which the uploader does not call an error.
          const other = yield* createTaskWorkspace(owner, template)
          const wrongTask = yield* uploadSnapshot({
            agentUrl: url,
            agentToken: task.agentToken,
            taskId: other.taskId,
            agentApiUrl: (yield* fakeServer(respond(200, twelve))).url
          }).pipe(Effect.provide(fetchClient))
          assert.strictEqual(wrongTask._tag, "NotSupported")
          assert.isUndefined(yield* storedSnapshot(other.taskId))
        }))
    })
  })
}

const mainTs = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/** Runs `taskd agent snapshot` in a child process with exactly `env` (plus PATH). */
const cli = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  Effect.callback<{ code: number | null; stderr: string }>((resume) => {
    const child = spawn(process.execPath, [mainTs, "agent", "snapshot", ...args], {
      env: { PATH: process.env["PATH"] ?? "", ...env },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("close", (code) => resume(Effect.succeed({ code, stderr })))
  })

describe("taskd agent snapshot", () => {
  it.live(
    "exits 0 whatever happens to the snapshot, 1 only without CODER_AGENT_URL/TOKEN",
    () =>
      Effect.gen(function*() {
        const agentapi = yield* fakeServer(respond(200, conversationOf(2, 200)))
        const failing = yield* fakeServer(respond(500, { message: "boom" }))
        const coder = yield* fakeServer(respond(204))
        const env = {
          CODER_AGENT_URL: failing.url,
          CODER_AGENT_TOKEN: "tok",
          CODER_TASK_ID: taskId,
          AGENTAPI_PORT: String(agentapi.port)
        }
        const [failed, missing, noTask, uploaded] = yield* Effect.all([
          cli(env),
          cli({ CODER_TASK_ID: taskId, CODER_AGENT_URL: failing.url }),
          cli({}),
          cli({ ...env, CODER_AGENT_URL: "http://127.0.0.1:9" }, [
            "--agent-url",
            coder.url,
            "--agent-token",
            "flag-tok"
          ])
        ], { concurrency: "unbounded" })
        assert.strictEqual(failed.code, 0, failed.stderr)
        assert.strictEqual(failing.requests.length, 1)
        assert.strictEqual(missing.code, 1)
        assert.include(missing.stderr, "CODER_AGENT_TOKEN")
        assert.strictEqual(noTask.code, 0)
        assert.strictEqual(uploaded.code, 0, uploaded.stderr)
        assert.strictEqual(coder.requests.length, 1)
        assert.strictEqual(coder.requests[0].headers["coder-session-token"], "flag-tok")
        assert.strictEqual(coder.requests[0].body.toString("utf8"), encodePayload(conversationOf(2, 200)))
      }),
    { timeout: 60_000 }
  )
})
