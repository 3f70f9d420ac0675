/**
 * The `q` grammar of `GET /api/v2/tasks` (spec §6), as Coder's `searchquery.Tasks` reads it
 * (coderd/searchquery/search.go: searchTerms, then the QueryParamParser): `owner:`, `organization:` and
 * `status:` keys, free text as the owner, Coder's error texts and order. Unlike Coder, an unknown status is
 * a validation error, not a 500.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { ValidationError } from "../Domain/CoderError.ts"
import { goQuote } from "../Domain/GoQuote.ts"
import { parseParams } from "../Domain/QueryParams.ts"
import { allTaskStatuses, type TaskStatus } from "../Domain/Task.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { UserRepo } from "../Users/UserRepo.ts"

export interface TaskSearch {
  readonly ownerId?: string
  readonly organizationId?: string
  readonly status?: TaskStatus
}

/**
 * Coder's `splitQueryParameterByDelimiter`: `strings.FieldsFunc` on `separator` outside double quotes, so
 * empty parts are dropped; unless `keepQuotes`, each part then loses its leading and trailing quotes
 * (`strings.Trim(part, "\"")`).
 */
const split = (input: string, separator: string, keepQuotes: boolean): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  let quoted = false
  for (const char of input) {
    if (char === "\"") quoted = !quoted
    if (char === separator && !quoted) {
      if (current !== "") parts.push(current)
      current = ""
    } else {
      current += char
    }
  }
  if (current !== "") parts.push(current)
  return keepQuotes ? parts : parts.map((part) => part.replace(/^"+|"+$/g, ""))
}

/**
 * The key/value elements of a query, as Coder's `searchTerms` makes them: the query lowercased, split on
 * spaces outside quotes; elements without a ':' are joined into one free-text element, last, which is the
 * owner (quotes kept, as Coder passes the element itself). The first malformed element stops the parse:
 * then `errors` is that one validation and `pairs` is empty.
 */
export const tokenize = (
  query: string
): { readonly pairs: Array<[string, string]>; readonly errors: Array<ValidationError> } => {
  const elements: Array<string> = []
  const free: Array<string> = []
  for (const token of split(query.toLowerCase(), " ", true)) {
    if (token.includes(":")) elements.push(token)
    else free.push(token)
  }
  if (free.length > 0) elements.push(free.join(" "))
  const pairs: Array<[string, string]> = []
  const malformed = (detail: string) => ({ pairs: [], errors: [new ValidationError({ field: "q", detail })] })
  for (const element of elements) {
    if (element.startsWith(":") || element.endsWith(":")) {
      return malformed(`Query element ${goQuote(element)} cannot start or end with ':'`)
    }
    const parts = split(element, ":", false)
    if (parts.length === 1) pairs.push(["owner", element])
    else if (parts.length === 2) pairs.push([parts[0]!, parts[1]!])
    else return malformed(`Query element ${goQuote(element)} can only contain 1 ':'`)
  }
  return { pairs, errors: [] }
}

const knownKeys = ["owner", "organization", "status"] as const

const invalidValue = (key: string, problem: string) =>
  new ValidationError({ field: key, detail: `Query param ${goQuote(key)} has invalid value: ${problem}` })

/**
 * Parses `q` for the caller `actor`; returns the filter or the validation errors. Errors come in Coder's
 * order: a malformed element alone (nothing is looked up); else per key, owner, organization, status (given
 * more than once, or its value's problem), then unknown keys.
 */
export const parseTaskSearch = (query: string, actor: { readonly id: string; readonly username: string }) =>
  Effect.gen(function*() {
    const search: { ownerId?: string; organizationId?: string; status?: TaskStatus } = {}
    const tokens = tokenize(query)
    if (tokens.errors.length > 0) return { search: search as TaskSearch, errors: tokens.errors }
    const users = yield* UserRepo
    const params = parseParams(tokens.pairs, { known: knownKeys })
    const errors: Array<ValidationError> = []
    const problemsOf = (key: string) => params.validations.filter((validation) => validation.field === key)

    errors.push(...problemsOf("owner"))
    const owner = params.values.owner
    if (owner !== undefined) {
      const uuid = parseUuid(owner)
      if (owner === "me") search.ownerId = actor.id
      else if (Result.isSuccess(uuid)) search.ownerId = uuid.success
      // The caller's own name needs no lookup: authentication just read it (usernames are case-insensitive).
      else if (owner === actor.username.toLowerCase()) search.ownerId = actor.id
      else {
        const user = yield* users.findByUsername(owner)
        if (user === undefined) {
          errors.push(
            invalidValue("owner", `user ${goQuote(owner)} either does not exist, or you are unauthorized to view them`)
          )
        } else search.ownerId = user.id
      }
    }

    errors.push(...problemsOf("organization"))
    const organization = params.values.organization
    if (organization !== undefined) {
      const uuid = parseUuid(organization)
      if (Result.isSuccess(uuid)) search.organizationId = uuid.success
      else {
        const found = yield* users.findOrganizationByName(organization)
        if (found === undefined) {
          errors.push(
            invalidValue(
              "organization",
              `organization ${goQuote(organization)} either does not exist, or you are unauthorized to view it`
            )
          )
        } else search.organizationId = found.id
      }
    }

    errors.push(...problemsOf("status"))
    const status = params.values.status
    if (status !== undefined) {
      if ((allTaskStatuses as ReadonlyArray<string>).includes(status)) search.status = status as TaskStatus
      else {
        errors.push(
          invalidValue("status", `${goQuote(status)} is not a task status; use one of ${allTaskStatuses.join(", ")}`)
        )
      }
    }

    errors.push(
      ...params.validations.filter((validation) => !(knownKeys as ReadonlyArray<string>).includes(validation.field))
    )
    return { search: search as TaskSearch, errors }
  })
