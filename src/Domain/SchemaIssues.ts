/**
 * One line per schema failure, as taskd has always written them in Coder's `detail` fields:
 * `path: problem; path: problem`, with Effect 3's wording ("is missing", "Expected string, actual 5").
 * The one formatter of schema errors in taskd: request bodies, snapshots, agentapi responses, imports.
 */
import * as Formatter from "effect/Formatter"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"

interface Line {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const customMessage = (
  annotations: { readonly [key: string]: unknown } | undefined,
  key: "message" | "messageMissingKey" | "messageUnexpectedKey" = "message"
): string | undefined => {
  const message = annotations?.[key]
  return typeof message === "string" ? message : undefined
}

/** Effect 4 says "Expected X, got Y"; taskd's texts have always said "actual". */
const withActual = (message: string, issue: SchemaIssue.Issue): string => {
  if (!SchemaIssue.hasInput(issue)) return message
  const got = `, got ${Formatter.format(issue.input)}`
  return message.endsWith(got) ? `${message.slice(0, -got.length)}, actual ${Formatter.format(issue.input)}` : message
}

/** "Expected <what `ast` accepts>[, got <input>]", in Effect 4's words for that schema. */
const expectedOf = (ast: SchemaAST.AST, issue: SchemaIssue.Issue): string =>
  SchemaIssue.defaultLeafHook(
    new SchemaIssue.InvalidType(ast, issue.input, { reportInput: SchemaIssue.hasInput(issue) })
  )

/** A union's members, nested unions (`optional(NullOr(X))`) flattened. */
const membersOf = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.AST> =>
  ast._tag === "Union" ? ast.types.flatMap(membersOf) : [ast]

const leafMessage = (issue: SchemaIssue.Leaf): string => {
  switch (issue._tag) {
    case "MissingKey":
      return customMessage(issue.annotations, "messageMissingKey") ?? "is missing"
    case "UnexpectedKey":
      return customMessage(issue.ast.annotations, "messageUnexpectedKey") ?? "is unexpected"
    default:
      return withActual(SchemaIssue.defaultLeafHook(issue), issue)
  }
}

const filterMessage = (issue: SchemaIssue.Filter): string | undefined => {
  const own = customMessage(issue.filter.annotations)
  if (own !== undefined) return own
  const inner = issue.issue
  if (inner._tag !== "InvalidValue") return undefined
  const innerMessage = customMessage(inner.annotations)
  if (innerMessage !== undefined) return innerMessage
  const expected = inner.annotations?.expected ?? issue.filter.annotations?.expected
  if (typeof expected !== "string") return undefined
  return SchemaIssue.hasInput(issue)
    ? `Expected ${expected}, actual ${Formatter.format(issue.input)}`
    : `Expected ${expected}`
}

const collect = (
  issue: SchemaIssue.Issue,
  path: ReadonlyArray<PropertyKey>,
  override: string | undefined,
  out: Array<Line>
): void => {
  switch (issue._tag) {
    case "Filter":
      return collect(issue.issue, path, override ?? filterMessage(issue), out)
    case "Encoding":
      return collect(issue.issue, path, override, out)
    case "Pointer":
      return collect(issue.issue, [...path, ...issue.path], override, out)
    case "Composite":
      for (const inner of issue.issues) collect(inner, path, override, out)
      return
    case "AnyOf": {
      if (issue.issues.length > 0) {
        for (const inner of issue.issues) collect(inner, path, override, out)
        return
      }
      // No member matched: one line per member, as Effect 3 wrote them ("Expected string, actual 5",
      // "Expected null, actual 5"), unless the union has a message of its own.
      const own = override ?? customMessage(issue.ast.annotations)
      if (own !== undefined || issue.ast.types.length === 0) {
        out.push({ path, message: own ?? withActual(expectedOf(issue.ast, issue), issue) })
        return
      }
      for (const member of membersOf(issue.ast)) {
        out.push({ path, message: withActual(expectedOf(member, issue), issue) })
      }
      return
    }
    default:
      out.push({ path, message: override ?? leafMessage(issue) })
  }
}

/** Formats a schema error (or its issue) as one short line: `path: problem; path: problem`. */
export const formatIssues = (error: Schema.SchemaError | SchemaIssue.Issue): string => {
  const lines: Array<Line> = []
  collect(Schema.isSchemaError(error) ? error.issue : error, [], undefined, lines)
  return lines
    .map((line) => line.path.length > 0 ? `${line.path.map(String).join(".")}: ${line.message}` : line.message)
    .join("; ")
}
