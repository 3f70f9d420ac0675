/**
 * Coder's `QueryParamParser`: required parameters, repeated parameters and unknown parameters are each
 * reported as a validation entry, in Coder's words.
 */
import { ValidationError } from "./CoderError.ts"
import { goQuote } from "./GoQuote.ts"

export interface ParsedQuery {
  readonly values: Readonly<Record<string, string>>
  readonly validations: ReadonlyArray<ValidationError>
}

export interface ParamOptions {
  readonly known: ReadonlyArray<string>
  readonly required?: ReadonlyArray<string>
}

/**
 * Parses key/value pairs as Coder's parser does: a known key whose first value is missing or empty is not
 * given (an error if required), one given more than once is an error, unknown keys are reported after the
 * known ones.
 */
export const parseParams = (pairs: Iterable<readonly [string, string]>, options: ParamOptions): ParsedQuery => {
  const all = new Map<string, Array<string>>()
  for (const [key, value] of pairs) {
    const found = all.get(key)
    if (found === undefined) all.set(key, [value])
    else found.push(value)
  }
  const values: Record<string, string> = {}
  const validations: Array<ValidationError> = []
  for (const key of options.known) {
    const found = all.get(key) ?? []
    // Coder's parseQueryParam looks at the FIRST value before it counts them: absent or empty first is
    // "not given" (required: an error), whatever follows.
    if (found.length === 0 || found[0] === "") {
      if (options.required?.includes(key)) {
        validations.push(
          new ValidationError({ field: key, detail: `Query param ${goQuote(key)} is required and cannot be empty` })
        )
      }
    } else if (found.length > 1) {
      validations.push(
        new ValidationError({
          field: key,
          detail: `Query param ${goQuote(key)} provided more than once, found ${found.length} times. ` +
            "Only provide 1 instance of this query param."
        })
      )
    } else {
      values[key] = found[0]!
    }
  }
  for (const key of all.keys()) {
    if (!options.known.includes(key)) {
      validations.push(new ValidationError({ field: key, detail: `${goQuote(key)} is not a valid query param` }))
    }
  }
  return { values, validations }
}

/**
 * Reads `known` parameters from the request's query string; anything else is a validation error.
 * `request` is anything with a URL (an `HttpServerRequest`, a web `Request`); relative URLs are fine.
 */
export const parseQuery = (request: { readonly url: string }, options: ParamOptions): ParsedQuery =>
  parseParams(new URL(request.url, "http://taskd").searchParams, options)
