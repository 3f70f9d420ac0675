/**
 * Go's `json.Decoder.Decode` reads the first JSON value of a body and ignores what follows it.
 * `JSON.parse` refuses trailing bytes, so taskd finds the end of the first value first.
 */
import * as Result from "effect/Result"

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

/** Whether `value` nests arrays and objects no deeper than `limit` (counted as the scanner counts them). */
const nestsWithin = (value: unknown, limit: number): boolean => {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (typeof current !== "object" || current === null) continue
    if (depth + 1 > limit) return false
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1])
    }
  }
  return true
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
}

/**
 * Parses the first JSON value of `text`, and returns it with the text it came from (for a parser that
 * wants text: `JSON.parse(text)` gives the same value). The error reads like Go's ("EOF",
 * "unexpected EOF", "exceeded max depth"; other syntax errors are V8's words).
 */
export const firstJson = (text: string): Result.Result<FirstJsonValue, string> => {
  // The usual body is exactly one value: the native parser alone reads it, many times faster than the
  // scanner below. Anything else (trailing data, malformed, too deep for the parser) takes the scanner.
  try {
    const value: unknown = JSON.parse(text)
    return nestsWithin(value, maxNestingDepth) ? Result.succeed({ value, text }) : Result.fail("exceeded max depth")
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
    return Result.succeed({ value: JSON.parse(first), text: first })
  } catch (error) {
    if (end === text.length && truncatedScalar.test(first)) return Result.fail("unexpected EOF")
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}

/** Parses the first JSON value of `text`; the error reads like Go's ("EOF", "unexpected EOF", ...). */
export const firstJsonValue = (text: string): Result.Result<unknown, string> =>
  Result.map(firstJson(text), (first) => first.value)
