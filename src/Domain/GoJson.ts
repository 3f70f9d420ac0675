/**
 * Go's encoding/json matches object keys to struct fields case-insensitively (an exact match wins) and
 * decodes `null` into a non-pointer field as "leave it zero". Coder's handlers decode request bodies that
 * way, so taskd folds keys and drops nulls to the shape of the target schema before decoding it.
 *
 * `readGoJson` is the whole of Go's `json.NewDecoder(body).Decode(&v)` reading, short of the decode itself:
 * bytes to text (invalid UTF-8 as U+FFFD), the first JSON value only, the nesting limit, then `goShape`.
 */
import * as Result from "effect/Result"
import * as AST from "effect/SchemaAST"
import { forPlainParse } from "./Int64.ts"
import { firstJson } from "./Json.ts"

/** The struct (property signatures) that a JSON object is decoded into, if the wire shape is one. */
const structOf = (ast: AST.AST): AST.Objects | undefined => {
  switch (ast._tag) {
    case "Objects":
      return ast
    case "Suspend":
      return structOf(ast.thunk())
    default:
      return undefined
  }
}

/** The element schema of an array's wire shape. */
const elementOf = (ast: AST.AST): AST.AST | undefined => {
  switch (ast._tag) {
    case "Arrays":
      return ast.rest[0]
    case "Suspend":
      return elementOf(ast.thunk())
    default:
      return undefined
  }
}

/** Strips `undefined`/`null`/literal members so a field's own struct or array shape can be found. */
const nonNullable = (ast: AST.AST): AST.AST => {
  if (ast._tag === "Union") {
    const rest = ast.types.filter((member) => !AST.isUndefined(member) && !AST.isNull(member) && !AST.isLiteral(member))
    return rest.length === 1 ? nonNullable(rest[0]!) : ast
  }
  return ast
}

interface Fields {
  readonly exact: ReadonlyMap<string, AST.AST>
  readonly folded: ReadonlyMap<string, string>
}

/** The fields of a struct schema, computed once per schema. */
const fieldsCache = new WeakMap<AST.Objects, Fields>()
const fieldsOf = (struct: AST.Objects): Fields => {
  let fields = fieldsCache.get(struct)
  if (fields === undefined) {
    const exact = new Map<string, AST.AST>()
    const folded = new Map<string, string>()
    for (const property of struct.propertySignatures) {
      if (typeof property.name !== "string") continue
      exact.set(property.name, property.type)
      folded.set(property.name.toLowerCase(), property.name)
    }
    fields = { exact, folded }
    fieldsCache.set(struct, fields)
  }
  return fields
}

/** `out[key] = value`, also for a key named `__proto__` (JSON.parse makes it an own key; so must we). */
const set = (out: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  } else out[key] = value
}

/**
 * `goShape` on the wire (encoded) AST, which is what JSON text is matched against. Returns `value` itself
 * when nothing changes (no key renamed, no null dropped, nothing changed below), so the usual body costs
 * no copy and its text can be passed on as it came.
 */
const shape = (value: unknown, ast: AST.AST): unknown => {
  const target = nonNullable(ast)
  if (Array.isArray(value)) {
    const element = elementOf(target)
    if (element === undefined) return value
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const next = typeof item === "object" && item !== null ? shape(item, element) : item
      if (out === undefined && next !== item) out = value.slice(0, i)
      if (out !== undefined) out.push(next)
    }
    return out ?? value
  }
  const struct = structOf(target)
  if (struct === undefined || typeof value !== "object" || value === null) return value
  const { exact, folded } = fieldsOf(struct)
  const input = value as Record<string, unknown>
  let out: Record<string, unknown> | undefined
  for (const key in input) {
    if (!Object.hasOwn(input, key)) continue
    const field = input[key]
    const name = exact.has(key) ? key : folded.get(key.toLowerCase())
    const next = name !== undefined && typeof field === "object" && field !== null
      ? shape(field, exact.get(name)!)
      : field
    if (out === undefined) {
      // Unknown keys are kept as they are (the decoder ignores them).
      if (name === undefined || (name === key && field !== null && next === field)) continue
      // The first change: the keys before this one are copied unchanged.
      out = {}
      for (const earlier in input) {
        if (earlier === key) break
        if (Object.hasOwn(input, earlier)) set(out, earlier, input[earlier])
      }
    }
    if (name === undefined) set(out, key, field)
    // Go's decoder stores each key into the field it matches, in document order: with "input" and "Input"
    // both present the later one wins (its docs' "preferring an exact match" picks between FIELDS, not
    // keys). A null leaves the field as it was.
    else if (field !== null) set(out, name, next)
  }
  return out ?? value
}

/**
 * `value` (parsed JSON) with its keys renamed to the schema's fields as Go would match them, and null
 * fields dropped; `value` itself (the same reference) when there is nothing to change. `ast` is a schema's
 * AST (`schema.ast`); its wire side is used, so transformations and classes are seen through.
 */
export const goShape = (value: unknown, ast: AST.AST): unknown => shape(value, AST.toEncoded(ast))

/** Invalid UTF-8 becomes U+FFFD, as Go's decoder does; a BOM is kept (Go refuses it as a character). */
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })

const decodeText = (body: string | Uint8Array): string => typeof body === "string" ? body : utf8.decode(body)

/**
 * Reads a JSON body as Go's `json.NewDecoder(body).Decode(&v)` does for a `v` of `schema`'s type:
 * invalid UTF-8 becomes U+FFFD, only the first JSON value counts (trailing bytes are ignored), nesting
 * deeper than `maxNestingDepth` is refused, keys match the schema's fields case-insensitively (the later
 * of two keys for one field wins) and null fields are dropped (Go leaves them zero); integers beyond
 * 2^53 - 1 are read exactly, as bigints (`Int64` decodes them). The result is ready for the schema's
 * decoder. The failure is Go's decoder text: "EOF" (empty body), "unexpected EOF",
 * "exceeded max depth", or the JSON syntax error.
 */
export const readGoJson = (
  schema: { readonly ast: AST.AST } | AST.AST,
  body: string | Uint8Array
): Result.Result<unknown, string> => {
  const first = firstJson(decodeText(body))
  if (Result.isFailure(first)) return first
  return Result.succeed(goShape(first.success.value, AST.isAST(schema) ? schema : schema.ast))
}

/** A body read as `readGoJson` reads it: the Go-shaped value, and JSON text that parses to it. */
export interface GoJsonText {
  readonly value: unknown
  readonly text: string
}

/**
 * `readGoJson` for a decoder that parses text itself with `JSON.parse` (the HttpApi framework's JSON
 * payloads): the value, and a JSON text that the schema decodes as it decodes the value. When Go's reading
 * changes nothing and every number is exact (the usual body: exact keys, no nulls, ids below 2^53), the
 * text is the body's own text of its first value, passed on without a copy; otherwise the shaped value
 * written out, losing nothing (`forPlainParse`): integers beyond 2^53 as `Int64`'s tokens, numbers beyond
 * float64 as such.
 */
export const readGoJsonText = (
  schema: { readonly ast: AST.AST } | AST.AST,
  body: string | Uint8Array
): Result.Result<GoJsonText, string> => {
  const first = firstJson(decodeText(body))
  if (Result.isFailure(first)) return first
  const { bigints, value } = first.success
  const shaped = goShape(value, AST.isAST(schema) ? schema : schema.ast)
  return Result.succeed(
    shaped === value && !bigints ? first.success : { value: shaped, text: JSON.stringify(shaped, forPlainParse) }
  )
}
