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

/** `value` with its keys renamed to the schema's fields as Go would match them, and null fields dropped. */
export const goShape = (value: unknown, ast: AST.AST): unknown => {
  const target = nonNullable(ast)
  if (Array.isArray(value)) {
    const element = elementOf(target)
    return element === undefined ? value : value.map((item) => goShape(item, element))
  }
  const struct = structOf(target)
  if (struct === undefined || typeof value !== "object" || value === null) return value
  const fields = new Map<string, AST.PropertySignature>()
  const folded = new Map<string, string>()
  for (const property of struct.propertySignatures) {
    if (typeof property.name !== "string") continue
    fields.set(property.name, property)
    folded.set(property.name.toLowerCase(), property.name)
  }
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    const name = fields.has(key) ? key : folded.get(key.toLowerCase())
    if (name === undefined) {
      out[key] = field
      continue
    }
    // An exact match wins over a case-insensitive one, whatever the order of the keys.
    if (name !== key && Object.hasOwn(value, name)) continue
    if (field === null) continue
    out[name] = goShape(field, fields.get(name)!.type)
  }
  return out
}
