/**
 * The `q` grammar of `GET /api/v2/tasks` (spec §6): `owner:`, `organization:` and `status:` keys, free
 * text as the owner, Coder's error texts. Unlike Coder, an unknown status is a validation error, not a 500.
 */
import * as Effect from "effect/Effect"
import { ValidationError } from "../Domain/CoderError.ts"
import { allTaskStatuses, type TaskStatus } from "../Domain/Task.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import { parseParams } from "../Http/QueryParams.ts"
import { UserRepo } from "../Users/UserRepo.ts"

export interface TaskSearch {
  readonly ownerId?: string
  readonly organizationId?: string
  readonly status?: TaskStatus
}

/** Splits on spaces outside double quotes. */
const splitOutsideQuotes = (input: string, separator: string): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  let quoted = false
  for (const char of input) {
    if (char === "\"") quoted = !quoted
    if (char === separator && !quoted) {
      parts.push(current)
      current = ""
    } else {
      current += char
    }
  }
  parts.push(current)
  return parts
}

/** The key/value elements of a query; free text is joined into one element, last. */
export const tokenize = (
  query: string
): { readonly pairs: Array<[string, string]>; readonly errors: Array<ValidationError> } => {
  const lowered = query.toLowerCase()
  const elements: Array<string> = []
  const free: Array<string> = []
  for (const token of splitOutsideQuotes(lowered, " ")) {
    if (token === "") continue
    if (token.includes(":")) elements.push(token)
    else free.push(token)
  }
  if (free.length > 0) elements.push(free.join(" "))
  const pairs: Array<[string, string]> = []
  const errors: Array<ValidationError> = []
  for (const element of elements) {
    if (element.startsWith(":") || element.endsWith(":")) {
      errors.push(
        new ValidationError({ field: "q", detail: `Query element "${element}" cannot start or end with ':'` })
      )
      continue
    }
    const parts = splitOutsideQuotes(element, ":").map((part) => part.replaceAll("\"", ""))
    if (parts.length === 1) pairs.push(["owner", parts[0]!])
    else if (parts.length === 2) pairs.push([parts[0]!, parts[1]!])
    else errors.push(new ValidationError({ field: "q", detail: `Query element "${element}" can only contain 1 ':'` }))
  }
  return { pairs, errors }
}

const knownKeys = ["owner", "organization", "status"] as const

/** Parses `q` for the caller `actor`; returns the filter or the validation errors. */
export const parseTaskSearch = (query: string, actor: { readonly id: string; readonly username: string }) =>
  Effect.gen(function*() {
    const users = yield* UserRepo
    const { errors, pairs } = tokenize(query)
    const params = parseParams(pairs, { known: knownKeys })
    errors.push(...params.validations)
    const search: { ownerId?: string; organizationId?: string; status?: TaskStatus } = {}
    const single = (key: string): string | undefined => params.values[key]

    const owner = single("owner")
    if (owner !== undefined) {
      // The caller's own name needs no lookup: authentication just read it (usernames are case-insensitive).
      if (owner === "me" || owner.toLowerCase() === actor.username.toLowerCase()) search.ownerId = actor.id
      else if (isCanonicalUuid(owner)) search.ownerId = owner
      else {
        const user = yield* users.findByUsername(owner)
        if (user === undefined) {
          errors.push(
            new ValidationError({
              field: "owner",
              detail: `Query param "owner" has invalid value: user "${owner}" either does not exist, or you are ` +
                "unauthorized to view them"
            })
          )
        } else search.ownerId = user.id
      }
    }
    const organization = single("organization")
    if (organization !== undefined) {
      if (isCanonicalUuid(organization)) search.organizationId = organization
      else {
        const found = yield* users.findOrganizationByName(organization)
        if (found === undefined) {
          errors.push(
            new ValidationError({
              field: "organization",
              detail: `Query param "organization" has invalid value: organization "${organization}" either does not ` +
                "exist, or you are unauthorized to view it"
            })
          )
        } else search.organizationId = found.id
      }
    }
    const status = single("status")
    if (status !== undefined) {
      if ((allTaskStatuses as ReadonlyArray<string>).includes(status)) search.status = status as TaskStatus
      else {
        errors.push(
          new ValidationError({
            field: "status",
            detail: `Query param "status" has invalid value: "${status}" is not a task status; use one of ${
              allTaskStatuses.join(", ")
            }`
          })
        )
      }
    }
    return { search: search as TaskSearch, errors }
  })
