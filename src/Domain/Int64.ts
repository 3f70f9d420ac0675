/**
 * Go's int64 (Coder's message ids), exactly. A JavaScript number holds an integer exactly only up to
 * 2^53 - 1, so taskd keeps an int64 as a number while it is a safe integer and as a bigint beyond it:
 * `Int64`, one value per integer (5 is always `5`, never `5n`).
 *
 * On the wire an int64 is a JSON number with all its digits. JSON text is read with
 * `parseJsonExact`/`firstJson` (./Json.ts), which give integers beyond 2^53 as bigints, and the codec's
 * encoded form is ready for `JSON.stringify`: a number, or for a bigint a `JSON.rawJSON` value, which
 * `JSON.stringify` writes as the number's own digits. (`JSON.rawJSON` and the reviver's source text need
 * V8 11.4+: Node 22, Deno.)
 */
import * as Formatter from "effect/Formatter"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"

/** An int64: a number when it is a safe integer, else a bigint. */
export type Int64 = number | bigint

/** What `JSON.rawJSON` returns: a value that `JSON.stringify` writes as `rawJSON`, unquoted. */
export interface RawJson {
  readonly rawJSON: string
}

const json = JSON as unknown as {
  readonly rawJSON: (text: string) => RawJson
  readonly isRawJSON: (value: unknown) => value is RawJson
}

/** `JSON.rawJSON`: `JSON.stringify` writes `text` (a JSON number, here) as it is. */
export const rawJson = (text: string): RawJson => json.rawJSON(text)

export const minInt64 = -(2n ** 63n)
export const maxInt64 = 2n ** 63n - 1n

const integerDigits = /^-?(?:0|[1-9]\d*)$/

/**
 * A bigint inside JSON text that a plain `JSON.parse` keeps: a string that only this process writes.
 * The HttpApi framework parses request bodies with `JSON.parse` itself, so the body reader (GoJson's
 * `readGoJsonText`) hands it text with integers beyond 2^53 written as these tokens, and `Int64` reads
 * them back. A client cannot send one: the prefix is random per process.
 */
const tokenPrefix = `\u0000int64:${globalThis.crypto.randomUUID()}:`

/** `value` as a token string that `Int64` decodes back to `value` (see `tokenPrefix`). */
export const exactIntegerToken = (value: bigint): string => tokenPrefix + value.toString()

/**
 * A `JSON.stringify` replacer that writes a value so that a plain `JSON.parse` of the text, decoded with
 * `Int64`, loses nothing:
 * - a bigint (an integer beyond 2^53 - 1, as `parseJsonExact` reads it) becomes `exactIntegerToken` (its
 *   digits as a JSON number would be rounded by JSON.parse);
 * - a number beyond float64 (`1e400` parses as ±Infinity, which `JSON.stringify` would write as `null`: a
 *   zero value to Go-style decoding, so the number would silently become 0) is written back as `1e400`,
 *   which parses as the same ±Infinity, and the schema refuses it as it refuses it in the text itself.
 */
export const forPlainParse = (_key: string, value: unknown): unknown => {
  if (typeof value === "number") return Number.isFinite(value) ? value : rawJson(value > 0 ? "1e400" : "-1e400")
  return typeof value === "bigint" ? exactIntegerToken(value) : value
}

/**
 * What an int64 may be read from: JSON parsed exactly (a number, a bigint) or an encoded value; also a
 * token string, which the type does not show (only the body reader writes them).
 */
type Int64Input = number | bigint | RawJson

const isInt64Input = (u: unknown): u is Int64Input =>
  typeof u === "number" || typeof u === "bigint" || (typeof u === "string" && u.startsWith(tokenPrefix)) ||
  json.isRawJSON(u)

/** The integer an input stands for, as a bigint; undefined when it is not an integer. */
const bigintOf = (input: Exclude<Int64Input, number>): bigint | undefined => {
  if (typeof input === "bigint") return input
  // Raw JSON, or a token string: the digits.
  const text = json.isRawJSON(input) ? input.rawJSON : String(input).slice(tokenPrefix.length)
  return integerDigits.test(text) ? BigInt(text) : undefined
}

const twoTo63 = 2 ** 63

/**
 * The one check of an input, in the order a reader needs: an integer at all ("Expected an integer"),
 * within int64 (the bounds), and exact (a number beyond 2^53 that reached here was not read exactly —
 * 1e18 in JSON text, or a JavaScript number — so its digits may be gone: refused rather than stored as
 * something else). One filter, so the usual id (a safe integer) costs one test. Its texts name the input
 * as the formatter would ("actual 1.5"), and an integer by its digits, not by the token it may have come
 * as (which would print the process's token prefix).
 */
const int64Issue = (input: number | RawJson, _ast: unknown, options: SchemaAST.ParseOptions) => {
  if (typeof input === "number" && Number.isSafeInteger(input)) return true
  const value = typeof input === "number" ? input : bigintOf(input)
  const fail = (expected: string, actual: string) =>
    new SchemaIssue.InvalidValue(
      { message: `Expected ${expected}${options.reportInput === true ? `, actual ${actual}` : ""}` },
      value ?? input,
      options
    )
  if (value === undefined || (typeof value === "number" && !Number.isInteger(value))) {
    return fail("an integer", Formatter.format(input))
  }
  if (typeof value === "number" ? value < -twoTo63 || value >= twoTo63 : value < minInt64 || value > maxInt64) {
    return fail(rangeText, String(value))
  }
  return typeof value === "bigint" || fail(inexactText, Formatter.format(value))
}

const rangeText = `an int64, between ${minInt64} and ${maxInt64}`
const inexactText = "an exact integer (beyond 2^53, written in digits, or a bigint)"

const toInt64 = (input: Int64Input): Int64 => {
  if (typeof input === "number") return input
  const value = bigintOf(input)!
  return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER ? Number(value) : value
}

const toEncoded = (value: Int64): number | RawJson => typeof value === "number" ? value : rawJson(value.toString())

const isInt64 = (u: unknown): u is Int64 =>
  typeof u === "number" ? Number.isSafeInteger(u) : typeof u === "bigint" && u >= minInt64 && u <= maxInt64

/**
 * The wire side: what encoding writes (a number, or `JSON.rawJSON` digits), so the encoded type says that
 * much and `JSON.stringify` of any encoded value works; decoding also accepts a bigint (what
 * `parseJsonExact` gives) and a token.
 */
const Int64Encoded = Schema.declare((u): u is number | RawJson => isInt64Input(u), {
  expected: "an integer",
  // Already JSON: a number, or raw JSON that `JSON.stringify` writes as a number.
  toCodecJson: () => undefined
}).check(
  Schema.makeFilter(int64Issue, { toJsonSchema: () => ({ type: "integer", format: "int64" }) })
)

/**
 * An int64, as Go's encoding/json reads and writes one: decodes a number (a safe integer), a bigint (from
 * `parseJsonExact`), or the encoded form; refuses non-integers ("Expected an integer"), values outside
 * int64, and numbers beyond 2^53 (not exact). Encodes to a number, or to `JSON.rawJSON` digits beyond
 * 2^53, so `JSON.stringify` of the encoded value writes every digit. JSON Schema: integer, format int64.
 */
export const Int64 = Int64Encoded.pipe(
  Schema.decodeTo(
    Schema.declare(isInt64, { expected: "an int64 (a safe integer number, or a bigint)" }),
    SchemaTransformation.transform<Int64, number | RawJson>({
      decode: toInt64,
      encode: toEncoded
    })
  )
)
