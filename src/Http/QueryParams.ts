/**
 * Coder's `QueryParamParser`: required parameters, repeated parameters and unknown parameters are each
 * reported as a validation entry, in Coder's words.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { ValidationError } from "../Domain/CoderError.ts"

export interface ParsedQuery {
  readonly values: Readonly<Record<string, string>>
  readonly validations: ReadonlyArray<ValidationError>
}

export interface ParamOptions {
  readonly known: ReadonlyArray<string>
  readonly required?: ReadonlyArray<string>
}

/**
 * Parses key/value pairs as Coder's parser does: each known key at most once and non-empty to count,
 * required keys present, unknown keys reported after the known ones.
 */
export const parseParams = (pairs: Iterable<readonly [string, string]>, options: ParamOptions): ParsedQuery => {
  const all = new Map<string, Array<string>>()
  for (const [key, value] of pairs) all.set(key, [...(all.get(key) ?? []), value])
  const values: Record<string, string> = {}
  const validations: Array<ValidationError> = []
  for (const key of options.known) {
    const found = all.get(key) ?? []
    if (found.length > 1) {
      validations.push(
        new ValidationError({
          field: key,
          detail: `Query param "${key}" provided more than once, found ${found.length} times. ` +
            "Only provide 1 instance of this query param."
        })
      )
    } else if (found.length === 1 && found[0] !== "") {
      values[key] = found[0]!
    } else if (options.required?.includes(key)) {
      validations.push(
        new ValidationError({ field: key, detail: `Query param "${key}" is required and cannot be empty` })
      )
    }
  }
  for (const key of all.keys()) {
    if (!options.known.includes(key)) {
      validations.push(new ValidationError({ field: key, detail: `"${key}" is not a valid query param` }))
    }
  }
  return { values, validations }
}

/** Reads `known` parameters from the request's query string; anything else is a validation error. */
export const parseQuery = (request: HttpServerRequest.HttpServerRequest, options: ParamOptions): ParsedQuery =>
  parseParams(new URL(request.url, "http://taskd").searchParams, options)
