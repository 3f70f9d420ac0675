/**
 * Unit tier: the snapshot codecs: an upload payload to the stored envelope (src/Snapshots/Envelope.ts),
 * the envelope back to task logs (src/Snapshots/SnapshotLogs.ts), and the uploader's trimming policy
 * (src/AgentApi/Trim.ts). Pure: no database, no server.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import {
  maxContentChars,
  maxMessages,
  maxPayloadBytes,
  payloadBytes,
  trimForSnapshot,
  truncationPrefix
} from "../../src/AgentApi/Trim.ts"
import type { Message, MessagesResponse } from "../../src/Domain/AgentApi.ts"
import { maxSnapshotBytes } from "../../src/Domain/Snapshot.ts"
import { checkPayload, payloadFromUpload, toEnvelope } from "../../src/Snapshots/Envelope.ts"
import { logsFromSnapshot, toLogEntries } from "../../src/Snapshots/SnapshotLogs.ts"

/** `{success}` or `{failure}` (the typed error as plain JSON, so `_tag` and fields compare). */
const outcome = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<{ success?: A; failure?: any }> =>
  Effect.match(effect, {
    onSuccess: (success) => ({ success }),
    onFailure: (error) => ({ failure: JSON.parse(JSON.stringify(error)) })
  })

const message = (id: number, content: string, role = "agent"): Message => ({
  id,
  content,
  role,
  time: "2025-01-01T10:00:00Z"
})

describe("payloadFromUpload: an upload body as it is stored", () => {
  it.effect("drops unknown keys, keeps $schema, fills Go's zero values (\"\", 0, zero time)", () =>
    Effect.gen(function*() {
      const payload = yield* payloadFromUpload({
        $schema: "https://example.com/schema.json",
        truncated: true,
        total_count: 12,
        messages: [{ id: 1, extra: 2 }, { content: "hi", role: "user", time: "2025-01-01T10:00:00.000+00:00" }]
      })
      assert.deepStrictEqual(payload, {
        $schema: "https://example.com/schema.json",
        messages: [
          { content: "", id: 1, role: "", time: "0001-01-01T00:00:00Z" },
          { content: "hi", id: 0, role: "user", time: "2025-01-01T10:00:00Z" }
        ]
      })
    }))

  it.effect("matches keys case-insensitively and takes null fields as zero, as Go's decoder does", () =>
    Effect.gen(function*() {
      const payload = yield* payloadFromUpload({
        Messages: [{ ID: 3, Content: "c", ROLE: "agent", Time: null }],
        $SCHEMA: null
      })
      assert.deepStrictEqual(payload, {
        messages: [{ content: "c", id: 3, role: "agent", time: "0001-01-01T00:00:00Z" }]
      })
    }))

  it.effect("keeps any role (Coder checks roles on read, not on upload) and makes strings well-formed", () =>
    Effect.gen(function*() {
      const payload = yield* payloadFromUpload({ messages: [{ role: "robot", content: "a\uD800b" }] })
      assert.strictEqual(payload.messages[0]!.role, "robot")
      assert.strictEqual(payload.messages[0]!.content, "a\uFFFDb")
    }))

  it.effect("messages absent or null (or a null body) is PayloadMissingMessages; [] is fine", () =>
    Effect.gen(function*() {
      for (const body of [null, {}, { messages: null }, { $schema: "s" }]) {
        assert.deepStrictEqual(yield* outcome(payloadFromUpload(body)), {
          failure: { _tag: "PayloadMissingMessages" }
        }, JSON.stringify(body))
      }
      assert.deepStrictEqual(yield* payloadFromUpload({ messages: [] }), { messages: [] })
    }))

  it.effect("wrong types are PayloadUndecodable with one line per problem", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: [{ id: 1.5 }] })), {
        failure: { _tag: "PayloadUndecodable", detail: "messages.0.id: Expected an integer, actual 1.5" }
      })
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: [{ time: "yesterday" }] })), {
        failure: { _tag: "PayloadUndecodable", detail: `messages.0: time: parsing time "yesterday" as RFC 3339` }
      })
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: "x" })), {
        failure: {
          _tag: "PayloadUndecodable",
          detail: `messages: Expected array, actual "x"; messages: Expected null, actual "x"`
        }
      })
    }))

  it.effect("text jsonb cannot store (NUL) is PayloadNotStorable, naming where", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* outcome(payloadFromUpload({ messages: [message(0, "ok"), message(1, "a\u0000b")] })),
        {
          failure: {
            _tag: "PayloadNotStorable",
            detail: "messages[1] contains a NUL character (\\u0000), which PostgreSQL cannot store in jsonb."
          }
        }
      )
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ $schema: "\u0000", messages: [] })), {
        failure: { _tag: "PayloadNotStorable", detail: `"$schema" contains a NUL character (\\u0000).` }
      })
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: [message(0, "ok", "a\u0000")] })), {
        failure: {
          _tag: "PayloadNotStorable",
          detail: "messages[0] contains a NUL character (\\u0000), which PostgreSQL cannot store in jsonb."
        }
      })
    }))

  it.effect("checkPayload (the framework-decoded path) gives the same answers as payloadFromUpload", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* outcome(checkPayload({})), { failure: { _tag: "PayloadMissingMessages" } })
      assert.deepStrictEqual(yield* checkPayload({ $schema: "s", messages: [message(0, "x")] }), {
        $schema: "s",
        messages: [message(0, "x")]
      })
      assert.deepStrictEqual(
        (yield* outcome(checkPayload({ messages: [message(0, "\u0000")] }))).failure?._tag,
        "PayloadNotStorable"
      )
    }))

  it.effect("toEnvelope writes Coder's envelope: {format: agentapi, data: {$schema?, messages}}", () =>
    Effect.gen(function*() {
      const envelope = yield* toEnvelope({ $schema: "s", messages: [message(1, "c")] })
      assert.strictEqual(
        JSON.stringify(envelope),
        `{"format":"agentapi","data":{"$schema":"s","messages":[{"content":"c","id":1,"role":"agent",` +
          `"time":"2025-01-01T10:00:00Z"}]}}`
      )
      assert.strictEqual(
        JSON.stringify(yield* toEnvelope({ messages: [] })),
        `{"format":"agentapi","data":{"messages":[]}}`
      )
    }))

  // Ids are int64s (src/Domain/Int64.ts): beyond 2^53 they come as bigints (JSON read with parseJsonExact);
  // a JavaScript number there has lost its digits and is refused; outside int64 gets the bounds.
  it.effect("ids: int64 as bigints beyond 2^53, inexact numbers and values outside int64 refused", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: [{ id: 2 ** 60 }] })), {
        failure: {
          _tag: "PayloadUndecodable",
          detail: "messages.0.id: Expected an exact integer (beyond 2^53, written in digits, or a bigint), " +
            "actual 1152921504606847000"
        }
      })
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: [{ id: 2n ** 63n }] })), {
        failure: {
          _tag: "PayloadUndecodable",
          detail: "messages.0.id: Expected an int64, between -9223372036854775808 and 9223372036854775807, " +
            "actual 9223372036854775808"
        }
      })
      assert.deepStrictEqual(yield* payloadFromUpload({ messages: [{ id: 2 ** 53 - 1 }, { id: -(2n ** 63n) }] }), {
        messages: [
          { content: "", id: 2 ** 53 - 1, role: "", time: "0001-01-01T00:00:00Z" },
          { content: "", id: -(2n ** 63n), role: "", time: "0001-01-01T00:00:00Z" }
        ]
      })
      // Not a finite number: Effect 3's wording, "Expected an integer" (JSON text cannot say Infinity, but
      // a Go-shaped value can hold it: src/Domain/GoJson.ts refuses 1e400 before it gets here).
      assert.deepStrictEqual(yield* outcome(payloadFromUpload({ messages: [{ id: Infinity }] })), {
        failure: { _tag: "PayloadUndecodable", detail: "messages.0.id: Expected an integer, actual Infinity" }
      })
    }))
})

describe("logsFromSnapshot: the stored envelope as task logs (spec §7.5)", () => {
  const at = new Date("2025-01-01T10:05:00.000Z")
  const stored = (log_snapshot: unknown) => ({ log_snapshot, log_snapshot_created_at: at })

  it.effect("no snapshot is an empty log, flagged as a snapshot, without snapshot_at", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* logsFromSnapshot(undefined), { logs: [], snapshot: true })
    }))

  it.effect("maps user to input and agent to output, in order, with the upload time", () =>
    Effect.gen(function*() {
      const logs = yield* logsFromSnapshot(stored({
        format: "agentapi",
        data: {
          messages: [
            { id: 0, content: "First message", role: "agent", time: "2025-01-01T10:00:00Z" },
            { id: 1, content: "Second message", role: "user", time: "2025-01-01T10:01:00Z" }
          ]
        }
      }))
      assert.deepStrictEqual(logs, {
        logs: [
          { id: 0, content: "First message", type: "output", time: "2025-01-01T10:00:00Z" },
          { id: 1, content: "Second message", type: "input", time: "2025-01-01T10:01:00Z" }
        ],
        snapshot: true,
        snapshot_at: at
      })
    }))

  it.effect("missing or null messages (or data) are no logs", () =>
    Effect.gen(function*() {
      for (const data of [{}, { messages: null }, null, undefined]) {
        const logs = yield* logsFromSnapshot(
          stored(data === undefined ? { format: "agentapi" } : { format: "agentapi", data })
        )
        assert.deepStrictEqual(logs, { logs: [], snapshot: true, snapshot_at: at }, JSON.stringify(data))
      }
    }))

  it.effect("undecodable data is reported before an unsupported format, as Coder decodes first", () =>
    Effect.gen(function*() {
      const undecodable = yield* outcome(logsFromSnapshot(stored({ format: "other", data: "not an object" })))
      assert.strictEqual(undecodable.failure?._tag, "SnapshotUndecodable")
      assert.deepStrictEqual(yield* outcome(logsFromSnapshot(stored({ format: "other", data: { messages: [] } }))), {
        failure: { _tag: "SnapshotFormatUnsupported", format: "other" }
      })
      assert.deepStrictEqual(yield* outcome(logsFromSnapshot(stored({ data: { messages: [] } }))), {
        failure: { _tag: "SnapshotFormatUnsupported", format: "" }
      })
    }))

  it.effect("a role other than user/agent fails with Coder's text", () =>
    Effect.gen(function*() {
      const result = yield* Effect.flip(toLogEntries([message(0, "a"), message(1, "b", "robot")]))
      assert.strictEqual(result._tag, "InvalidRole")
      assert.strictEqual(result.message, `invalid agentapi message role "robot"`)
      const fromSnapshot = yield* Effect.flip(logsFromSnapshot(stored({
        format: "agentapi",
        data: { messages: [{ id: 0, content: "x", role: "system", time: "2025-01-01T10:00:00Z" }] }
      })))
      assert.strictEqual(fromSnapshot._tag, "InvalidRole")
    }))
})

describe("trimForSnapshot: the shutdown script's policy (spec §7.6)", () => {
  const conversation = (count: number, content: (i: number) => string): MessagesResponse => ({
    messages: Array.from({ length: count }, (_, i) => message(i, content(i)))
  })

  it("the limits are the server's: 64 KiB, 10 messages, 56 KiB characters", () => {
    assert.strictEqual(maxPayloadBytes, 65_536)
    assert.strictEqual(maxSnapshotBytes, 65_536)
    assert.strictEqual(maxMessages, 10)
    assert.strictEqual(maxContentChars, 57_344)
  })

  it("keeps the last 10 messages, and $schema", () => {
    const trimmed = trimForSnapshot({ $schema: "s", ...conversation(12, (i) => `m${i}`) })
    assert.strictEqual(trimmed?.$schema, "s")
    assert.deepStrictEqual(trimmed?.messages.map((m) => m.id), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  })

  it("an empty conversation and a small one come back unchanged", () => {
    const empty = { messages: [] }
    assert.strictEqual(trimForSnapshot(empty), empty)
    const small = conversation(3, (i) => `m${i}`)
    assert.deepStrictEqual(trimForSnapshot(small), small)
  })

  it("drops the oldest messages until the encoded payload fits in 64 KiB", () => {
    const big = conversation(4, () => "x".repeat(30_000))
    const trimmed = trimForSnapshot(big)!
    assert.deepStrictEqual(trimmed.messages.map((m) => m.id), [2, 3])
    assert.isAtMost(payloadBytes(trimmed), 65_536)
    // JSON escaping counts: 20,000 quotes are 40,000 bytes on the wire.
    const escaped = trimForSnapshot(conversation(2, () => "\"".repeat(20_000)))!
    assert.deepStrictEqual(escaped.messages.map((m) => m.id), [1])
  })

  it("one message still too large keeps the last 56 KiB characters behind the prefix", () => {
    const content = "a".repeat(10_000) + "b".repeat(70_000) + "END"
    const trimmed = trimForSnapshot({ messages: [message(7, content)] })!
    assert.strictEqual(trimmed.messages.length, 1)
    const kept = trimmed.messages[0]!
    assert.strictEqual(kept.id, 7)
    assert.isTrue(kept.content.startsWith(truncationPrefix))
    assert.strictEqual(kept.content, truncationPrefix + content.slice(-57_344))
    assert.isAtMost(payloadBytes(trimmed), 65_536)
  })

  it("counts code points, never splitting a surrogate pair", () => {
    // The last 57,344 code points are "x", one emoji (two UTF-16 units) and 57,342 "a"s.
    const content = "x".repeat(70_000) + "\u{1F600}" + "a".repeat(57_342)
    const kept = trimForSnapshot({ messages: [message(0, content)] })!.messages[0]!.content
    assert.strictEqual(kept, truncationPrefix + "x\u{1F600}" + "a".repeat(57_342))
  })

  it("gives up (undefined) when even the truncated message is too large", () => {
    // 57,344 three-byte characters are about 168 KiB.
    assert.isUndefined(trimForSnapshot({ messages: [message(0, "\u20AC".repeat(70_000))] }))
  })
})
