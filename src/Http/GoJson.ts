/**
 * Go's encoding/json matches object keys to struct fields case-insensitively (an exact match wins) and
 * decodes `null` into a non-pointer field as "leave it zero". Coder's handlers decode request bodies that
 * way, so taskd folds keys and drops nulls to the shape of the target schema before decoding it.
 */
import * as AST from "effect/SchemaAST"

const structOf = (ast: AST.AST): AST.TypeLiteral | undefined => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast
    case "Transformation":
      return structOf(ast.from)
    case "Refinement":
      return structOf(ast.from)
    case "Suspend":
      return structOf(ast.f())
    default:
      return undefined
  }
}

const elementOf = (ast: AST.AST): AST.AST | undefined => {
  switch (ast._tag) {
    case "TupleType":
      return ast.rest[0]?.type
    case "Transformation":
    case "Refinement":
      return elementOf(ast.from)
    case "Suspend":
      return elementOf(ast.f())
    default:
      return undefined
  }
}

/** Strips `undefined`/`null` members so a field's own struct or array shape can be found. */
const nonNullable = (ast: AST.AST): AST.AST => {
  if (ast._tag === "Union") {
    const rest = ast.types.filter((member) => !AST.isUndefinedKeyword(member) && !AST.isLiteral(member))
    return rest.length === 1 ? nonNullable(rest[0]!) : ast
  }
  return ast
}

interface Fields {
  readonly exact: ReadonlyMap<string, AST.AST>
  readonly folded: ReadonlyMap<string, string>
}

/** The fields of a struct schema, computed once per schema. */
const fieldsCache = new WeakMap<AST.TypeLiteral, Fields>()
const fieldsOf = (struct: AST.TypeLiteral): Fields => {
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

/** `value` with its keys renamed to the schema's fields as Go would match them, and null fields dropped. */
export const goShape = (value: unknown, ast: AST.AST): unknown => {
  const target = nonNullable(ast)
  if (Array.isArray(value)) {
    const element = elementOf(target)
    return element === undefined ? value : value.map((item) => goShape(item, element))
  }
  const struct = structOf(target)
  if (struct === undefined || typeof value !== "object" || value === null) return value
  const { exact, folded } = fieldsOf(struct)
  const out: Record<string, unknown> = {}
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue
    const field = (value as Record<string, unknown>)[key]
    const name = exact.has(key) ? key : folded.get(key.toLowerCase())
    if (name === undefined) {
      out[key] = field
      continue
    }
    // An exact match wins over a case-insensitive one, whatever the order of the keys.
    if (name !== key && Object.hasOwn(value, name)) continue
    if (field === null) continue
    out[name] = typeof field === "object" ? goShape(field, exact.get(name)!) : field
  }
  return out
}
