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

/** Reads `known` parameters from the request's query string; anything else is a validation error. */
export const parseQuery = (
  request: HttpServerRequest.HttpServerRequest,
  options: { readonly known: ReadonlyArray<string>; readonly required?: ReadonlyArray<string> }
): ParsedQuery => {
  const search = new URL(request.url, "http://taskd").searchParams
  const values: Record<string, string> = {}
  const validations: Array<ValidationError> = []
  for (const key of options.known) {
    const all = search.getAll(key)
    if (all.length > 1) {
      validations.push(
        new ValidationError({
          field: key,
          detail: `Query param "${key}" provided more than once, found ${all.length} times. ` +
            "Only provide 1 instance of this query param."
        })
      )
    } else if (all.length === 1 && all[0] !== "") {
      values[key] = all[0]!
    } else if (options.required?.includes(key)) {
      validations.push(
        new ValidationError({ field: key, detail: `Query param "${key}" is required and cannot be empty` })
      )
    }
  }
  const unknown = new Set([...search.keys()].filter((key) => !options.known.includes(key)))
  for (const key of unknown) {
    validations.push(new ValidationError({ field: key, detail: `"${key}" is not a valid query param` }))
  }
  return { values, validations }
}
