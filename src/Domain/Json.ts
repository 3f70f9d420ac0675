/**
 * Go's `json.Decoder.Decode` reads the first JSON value of a body and ignores what follows it.
 * `JSON.parse` refuses trailing bytes, so taskd finds the end of the first value first.
 */
import * as Result from "effect/Result"
import { forPlainParse } from "./Int64.ts"

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** Go's decoder refuses values nested deeper than this ("exceeded max depth"); so does taskd. */
export const maxNestingDepth = 10_000

/**
 * The index just past the first JSON value that starts at or after `start`, -1 if it never ends, or -2
 * if it nests deeper than `maxNestingDepth`.
 */
const endOfFirstValue = (text: string, start: number): number => {
  const first = text.charCodeAt(start)
  if (first !== 0x7b && first !== 0x5b && first !== 0x22) {
    // A scalar ends at whitespace or at a structural character.
    let i = start
    while (i < text.length && !isSpace(text.charCodeAt(i)) && !"{}[],:\"".includes(text[i]!)) i++
    return i
  }
  let depth = 0
  let inString = false
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) {
        inString = false
        if (depth === 0) return i + 1
      }
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxNestingDepth) return -2
    } else if (c === 0x7d || c === 0x5d) {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return -1
}

/** A number that JSON.parse may have rounded: an integer beyond 2^53 - 1 (digits may be lost). */
const mayBeRounded = (u: unknown): boolean => typeof u === "number" && Number.isInteger(u) && !Number.isSafeInteger(u)

/**
 * Walks a parsed value: "deep" if it nests arrays and objects deeper than `limit` (counted as the scanner
 * counts them), "rounded" if it holds a number that may have lost digits, else "fine".
 */
const inspect = (value: unknown, limit: number): "fine" | "deep" | "rounded" => {
  if (typeof value !== "object" || value === null) return mayBeRounded(value) ? "rounded" : "fine"
  let rounded = false
  const stack: Array<[object, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (depth + 1 > limit) return "deep"
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === "object") {
        if (child !== null) stack.push([child, depth + 1])
      } else if (!rounded && typeof child === "number") rounded = mayBeRounded(child)
    }
  }
  return rounded ? "rounded" : "fine"
}

const integerLiteral = /^-?(?:0|[1-9]\d*)$/

/** A parse in which integers beyond 2^53 - 1 come out as bigints, read from their own digits. */
const parseWithBigInts = (text: string): { readonly value: unknown; readonly bigints: boolean } => {
  let bigints = false
  const value: unknown = JSON.parse(text, (_key, value: unknown, context?: { readonly source?: string }) => {
    if (!mayBeRounded(value) || context?.source === undefined || !integerLiteral.test(context.source)) return value
    bigints = true
    return BigInt(context.source)
  })
  return { value, bigints }
}

/**
 * `JSON.parse`, but exact for Go's int64s: an integer written in digits beyond 2^53 - 1 comes out as a
 * bigint, with all its digits (`Int64` in ./Int64.ts reads it). Other numbers are as JSON.parse gives
 * them (1e18 and 1.5 stay numbers). The usual text has no such integer and costs one walk over the value.
 */
export const parseJsonExact = (text: string): unknown => {
  const value: unknown = JSON.parse(text)
  return inspect(value, Infinity) === "rounded" ? parseWithBigInts(text).value : value
}

/**
 * JSON text for a decoder that reads it with a plain `JSON.parse` (the HttpApi client's responses): `text`
 * itself, unless it holds integers beyond 2^53 - 1; then the same JSON with those written as `Int64`'s
 * tokens (`forPlainParse`), which `Int64` decodes with every digit. Text that is not JSON is returned as is.
 */
export const forPlainJsonParse = (text: string): string => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return text
  }
  if (inspect(value, Infinity) !== "rounded") return text
  const exact = parseWithBigInts(text)
  return exact.bigints ? JSON.stringify(exact.value, forPlainParse) : text
}

/**
 * A scalar cut short by the end of the body: a proper prefix of `true`, `false` or `null`, or a number
 * that stops before its digits ("-", "1.", "1e", "1e+"). Go's decoder reports these as "unexpected EOF".
 */
const truncatedScalar = /^(?:t|tr|tru|f|fa|fal|fals|n|nu|nul|-|-?(?:0|[1-9]\d*)(?:\.|(?:\.\d+)?[eE][+-]?))$/

/** The first JSON value of a text: its parsed value and the exact text it was parsed from. */
export interface FirstJsonValue {
  readonly value: unknown
  readonly text: string
  /**
   * Whether `value` holds bigints (integers beyond 2^53 - 1, as `parseJsonExact` reads them): then a
   * plain `JSON.parse(text)` would round them.
   */
  readonly bigints: boolean
}

/** The first value, parsed exactly (`parseJsonExact`), from a text already parsed once into `value`. */
const exactly = (value: unknown, text: string): FirstJsonValue =>
  inspect(value, Infinity) === "rounded" ? { ...parseWithBigInts(text), text } : { value, text, bigints: false }

/**
 * Parses the first JSON value of `text` exactly (integers beyond 2^53 - 1 as bigints, as
 * `parseJsonExact`), and returns it with the text it came from (for a parser that wants text:
 * `JSON.parse(text)` gives the same value unless `bigints`). The error reads like Go's ("EOF",
 * "unexpected EOF", "exceeded max depth"; other syntax errors are V8's words).
 */
export const firstJson = (text: string): Result.Result<FirstJsonValue, string> => {
  // The usual body is exactly one value: the native parser alone reads it, many times faster than the
  // scanner below. Anything else (trailing data, malformed, too deep for the parser) takes the scanner.
  try {
    const value: unknown = JSON.parse(text)
    switch (inspect(value, maxNestingDepth)) {
      case "fine":
        return Result.succeed({ value, text, bigints: false })
      case "deep":
        return Result.fail("exceeded max depth")
      case "rounded":
        return Result.succeed({ ...parseWithBigInts(text), text })
    }
  } catch {
    // fall through
  }
  let start = 0
  while (start < text.length && isSpace(text.charCodeAt(start))) start++
  if (start === text.length) return Result.fail("EOF")
  const end = endOfFirstValue(text, start)
  if (end === -1) return Result.fail("unexpected EOF")
  if (end === -2) return Result.fail("exceeded max depth")
  const first = text.slice(start, end)
  try {
    return Result.succeed(exactly(JSON.parse(first), first))
  } catch (error) {
    if (end === text.length && truncatedScalar.test(first)) return Result.fail("unexpected EOF")
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}

/** Parses the first JSON value of `text`; the error reads like Go's ("EOF", "unexpected EOF", ...). */
export const firstJsonValue = (text: string): Result.Result<unknown, string> =>
  Result.map(firstJson(text), (first) => first.value)
