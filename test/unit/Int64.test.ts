/**
 * Unit tier: message ids are Go int64s, kept exactly (src/Domain/Int64.ts): JSON text read exactly
 * (src/Domain/Json.ts), the upload body handed to the framework's JSON.parse without losing digits
 * (src/Domain/GoJson.ts readGoJsonText), and every encoding written back with all the digits.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { encodePayload } from "../../src/AgentApi/Trim.ts"
import { MessageId, MessagesPayload, MessagesResponse } from "../../src/Domain/AgentApi.ts"
import { readGoJsonText } from "../../src/Domain/GoJson.ts"
import { Int64, maxInt64, minInt64 } from "../../src/Domain/Int64.ts"
import { firstJsonValue, forPlainJsonParse, parseJsonExact } from "../../src/Domain/Json.ts"
import { formatIssues } from "../../src/Domain/SchemaIssues.ts"
import { TaskLogsResponse } from "../../src/Domain/Task.ts"
import { payloadFromUpload, toEnvelope } from "../../src/Snapshots/Envelope.ts"
import { logsFromSnapshot } from "../../src/Snapshots/SnapshotLogs.ts"

const safe = Number.MAX_SAFE_INTEGER // 2^53 - 1
/** The edges, as JSON text: ±(2^53 - 1) are numbers, ±2^53 and ±(2^53 + 1) are not exact as numbers. */
const edges = [
  "0",
  "9007199254740991",
  "-9007199254740991",
  "9007199254740992",
  "-9007199254740992",
  "9007199254740993",
  "-9007199254740993",
  "9223372036854775807",
  "-9223372036854775808"
]
const outside = ["9223372036854775808", "-9223372036854775809", "18446744073709551616", "1" + "0".repeat(40)]

const decodeId = Schema.decodeUnknownResult(Int64)
const detailOf = (result: Result.Result<unknown, Schema.SchemaError>) =>
  Result.isFailure(result) ? formatIssues(result.failure) : "decoded"
/** The framework's reading of a body that CoderJsonBody passed on: plain JSON.parse, then the JSON codec. */
const frameworkDecode = Schema.decodeUnknownResult(Schema.toCodecJson(MessagesPayload), {
  errors: "all",
  reportInput: true
})
const throughBodyReader = (body: string) => {
  const read = Result.getOrThrow(readGoJsonText(MessagesPayload, body))
  return frameworkDecode(JSON.parse(read.text))
}
const idsOf = (payload: unknown) => (payload as { messages: ReadonlyArray<{ id: unknown }> }).messages.map((m) => m.id)

describe("parseJsonExact / firstJsonValue: JSON text with integers beyond 2^53", () => {
  it("safe integers stay numbers; integers beyond 2^53 - 1 become bigints with every digit", () => {
    const parsed = parseJsonExact(`[${edges.join(",")}]`) as Array<unknown>
    assert.deepStrictEqual(parsed.slice(0, 3), [0, safe, -safe])
    assert.deepStrictEqual(parsed.slice(3), edges.slice(3).map((text) => BigInt(text)))
  })

  it("other numbers and strings are as JSON.parse gives them; nesting and keys are kept", () => {
    const text = `{"a":[1.5,1e18,-0,"9007199254740993",{"b":9007199254740993}],"c":1e400}`
    const parsed = parseJsonExact(text) as any
    assert.deepStrictEqual(parsed.a.slice(0, 4), [1.5, 1e18, -0, "9007199254740993"])
    assert.strictEqual(parsed.a[4].b, 9007199254740993n)
    assert.strictEqual(parsed.c, Infinity)
    assert.deepStrictEqual(parseJsonExact(`{"a":[1,2],"b":"x"}`), JSON.parse(`{"a":[1,2],"b":"x"}`))
    assert.strictEqual(parseJsonExact("9007199254740993"), 9007199254740993n)
  })

  it("the first value of a body is read exactly, with or without trailing data", () => {
    for (const tail of ["", " trailing", "\n{}"]) {
      assert.deepStrictEqual(
        firstJsonValue(`{"messages":[{"id":-9223372036854775808}]}${tail}`),
        Result.succeed({ messages: [{ id: minInt64 }] }),
        tail
      )
    }
  })
})

describe("forPlainJsonParse: JSON answers for a decoder that uses JSON.parse (the typed client)", () => {
  it("text without integers beyond 2^53 is passed on as it is; with them, they become tokens Int64 reads", () => {
    for (const text of [`{"logs":[{"id":1}]}`, "not json", "", `{"x":1e400}`]) {
      assert.strictEqual(forPlainJsonParse(text), text)
    }
    const text =
      `{"logs":[{"id":9007199254740993,"content":"c"},{"id":-9223372036854775808,"content":"9007199254740993"}]}`
    const plain = JSON.parse(forPlainJsonParse(text))
    assert.deepStrictEqual(plain.logs.map((entry: { id: unknown }) => Result.getOrThrow(decodeId(entry.id))), [
      9007199254740993n,
      minInt64
    ])
    assert.strictEqual(plain.logs[1].content, "9007199254740993")
  })
})

describe("Int64: decoding", () => {
  it("numbers that are safe integers, and bigints in int64; one value per integer", () => {
    for (
      const [input, expected] of [
        [0, 0],
        [safe, safe],
        [-safe, -safe],
        [5n, 5],
        [BigInt(safe), safe],
        [BigInt(safe) + 1n, BigInt(safe) + 1n],
        [-(BigInt(safe) + 2n), -(BigInt(safe) + 2n)],
        [maxInt64, maxInt64],
        [minInt64, minInt64]
      ] as const
    ) {
      assert.deepStrictEqual(decodeId(input), Result.succeed(expected), String(input))
    }
  })

  it("outside int64 is refused with the bounds", () => {
    for (const text of outside) {
      assert.strictEqual(
        detailOf(decodeId(BigInt(text))),
        "Expected an int64, between -9223372036854775808 and 9223372036854775807",
        text
      )
    }
    assert.strictEqual(
      detailOf(decodeId(2 ** 64)),
      "Expected an int64, between -9223372036854775808 and 9223372036854775807"
    )
  })

  it("not an integer is \"Expected an integer\"; a number beyond 2^53 is refused as not exact", () => {
    for (const input of [1.5, Infinity, -Infinity, NaN, "7", null, {}]) {
      assert.strictEqual(detailOf(decodeId(input)), "Expected an integer", String(input))
    }
    // 2^53 + 1 as a JavaScript number is already 2^53: its digits are gone, so it is not taken.
    for (const input of [2 ** 53, 2 ** 60, -(2 ** 53), 1e18]) {
      assert.strictEqual(
        detailOf(decodeId(input)),
        "Expected an exact integer (beyond 2^53, written in digits, or a bigint)",
        String(input)
      )
    }
  })
})

describe("Int64: encoding writes every digit", () => {
  it("JSON.stringify of the encoded value is the integer's digits, a JSON number", () => {
    const encode = Schema.encodeSync(Int64)
    for (const text of edges) {
      const value = Result.getOrThrow(decodeId(parseJsonExact(text)))
      assert.strictEqual(JSON.stringify(encode(value)), text)
      assert.strictEqual(JSON.stringify({ id: encode(value) }), `{"id":${text}}`)
    }
    // A safe integer encodes to itself (the usual case costs nothing).
    assert.strictEqual(encode(42), 42)
  })

  it("the JSON codec (what HttpApi uses for /logs) writes exact numbers, not strings", () => {
    const encode = Schema.encodeSync(Schema.toCodecJson(TaskLogsResponse))
    const logs = edges.map((text) => ({
      id: Result.getOrThrow(decodeId(parseJsonExact(text))),
      content: "c",
      type: "output" as const,
      time: "2025-01-01T10:00:00Z"
    }))
    const text = JSON.stringify(encode({ logs }))
    assert.deepStrictEqual([...text.matchAll(/"id":(-?\d+),/g)].map((match) => match[1]), edges)
  })

  it("MessageId is Int64, documented as an int64 integer", () => {
    assert.strictEqual(MessageId, Int64)
    const document = Schema.toJsonSchemaDocument(TaskLogsResponse)
    assert.include(JSON.stringify(document), `"id":{"type":"integer","format":"int64"}`)
  })
})

describe("the upload body: exact through the framework's JSON.parse (readGoJsonText)", () => {
  const body = (ids: ReadonlyArray<string>) =>
    `{"messages":[${ids.map((id) => `{"id":${id},"role":"agent"}`).join(",")}]}`

  it("ids beyond 2^53 and the int64 bounds decode to themselves", () => {
    for (const text of [body(edges), body(edges).replace(`"messages"`, `"Messages"`)]) {
      const decoded = throughBodyReader(text)
      assert.isTrue(Result.isSuccess(decoded), detailOf(decoded))
      assert.deepStrictEqual(
        idsOf(Result.getOrThrow(decoded)),
        edges.map((id) => Result.getOrThrow(decodeId(parseJsonExact(id))))
      )
    }
  })

  it("the usual body (ids below 2^53) is still passed on as its own text", () => {
    const usual = body(["1", "-9007199254740991"])
    assert.strictEqual(Result.getOrThrow(readGoJsonText(MessagesPayload, usual)).text, usual)
  })

  it("outside int64, non-integers and inexact numbers are refused, naming the id", () => {
    for (const id of outside) {
      assert.strictEqual(
        detailOf(throughBodyReader(body(["1", id]))),
        `messages.1.id: Expected an int64, between -9223372036854775808 and 9223372036854775807, actual ${id}`,
        id
      )
    }
    assert.strictEqual(detailOf(throughBodyReader(body(["1.5"]))), "messages.0.id: Expected an integer, actual 1.5")
    assert.strictEqual(
      detailOf(throughBodyReader(body(["1e400"]))),
      "messages.0.id: Expected an integer, actual Infinity"
    )
    assert.strictEqual(
      detailOf(throughBodyReader(body(["1e18"]))),
      "messages.0.id: Expected an exact integer (beyond 2^53, written in digits, or a bigint), actual 1000000000000000000"
    )
    // A string is not an integer, whatever it holds.
    assert.strictEqual(
      detailOf(throughBodyReader(body([`"9007199254740993"`]))),
      `messages.0.id: Expected an integer, actual "9007199254740993"`
    )
  })
})

describe("the snapshot path keeps every digit: upload, envelope, logs, uploader body", () => {
  it.effect("payloadFromUpload -> toEnvelope -> jsonb text -> logsFromSnapshot", () =>
    Effect.gen(function*() {
      const json = parseJsonExact(`{"messages":[${edges.map((id) => `{"id":${id},"role":"user"}`).join(",")}]}`)
      const payload = yield* payloadFromUpload(json)
      const stored = JSON.stringify(yield* toEnvelope(payload))
      assert.deepStrictEqual([...stored.matchAll(/"id":(-?\d+),/g)].map((match) => match[1]), edges)
      const logs = yield* logsFromSnapshot({
        log_snapshot: parseJsonExact(stored),
        log_snapshot_created_at: new Date(0)
      })
      assert.deepStrictEqual(logs.logs.map((entry) => entry.id), idsOf(payload))
      assert.include(encodePayload(payload), `"id":-9223372036854775808,`)
      assert.include(encodePayload(payload), `"id":9007199254740993,`)
    }))

  it("agentapi's answer (MessagesResponse) read exactly, and out-of-int64 ids refused", () => {
    const decode = Schema.decodeUnknownResult(MessagesResponse)
    const answer = parseJsonExact(
      `{"messages":[{"id":9223372036854775807,"content":"c","role":"agent","time":"2025-01-01T10:00:00Z"}]}`
    )
    assert.deepStrictEqual(idsOf(Result.getOrThrow(decode(answer))), [maxInt64])
    assert.isTrue(Result.isFailure(decode(parseJsonExact(`{"messages":[{"id":9223372036854775808}]}`))))
  })
})
