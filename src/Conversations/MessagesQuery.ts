/**
 * The query of `GET /api/v2/tasks/{user}/{task}/messages` (`after_id`, `limit`), checked the way Coder's
 * QueryParamParser checks integers: each problem is a validation entry in Coder's words.
 */
import { ValidationError } from "../Domain/CoderError.ts"
import { defaultMessagesLimit, maxMessagesLimit } from "../Domain/Conversation.ts"
import { goQuote } from "../Domain/GoQuote.ts"
import { parseParams } from "../Domain/QueryParams.ts"

export interface MessagesQuery {
  readonly afterId: number
  readonly limit: number
}

const integer = /^[+-]?\d+$/

/** An integer as Go's strconv.ParseInt reads it, or the error it gives. */
const parseInt64 = (name: string, text: string): number | ValidationError => {
  if (!integer.test(text)) {
    return new ValidationError({
      field: name,
      detail: `Query param ${goQuote(name)} must be a valid integer: strconv.ParseInt: parsing ${
        goQuote(text)
      }: invalid syntax`
    })
  }
  const value = Number(text)
  if (!Number.isSafeInteger(value)) {
    return new ValidationError({
      field: name,
      detail: `Query param ${goQuote(name)} must be a valid integer: strconv.ParseInt: parsing ${
        goQuote(text)
      }: value out of range`
    })
  }
  return value
}

/** Reads `after_id` (default 0, not negative) and `limit` (1 to 1000, default 100) from the query's pairs. */
export const parseMessagesQuery = (
  pairs: Iterable<readonly [string, string]>
): { readonly query: MessagesQuery; readonly validations: ReadonlyArray<ValidationError> } => {
  const parsed = parseParams(pairs, { known: ["after_id", "limit"] })
  const validations = [...parsed.validations]
  let afterId = 0
  let limit = defaultMessagesLimit
  const after = parsed.values["after_id"]
  if (after !== undefined) {
    const value = parseInt64("after_id", after)
    if (value instanceof ValidationError) validations.push(value)
    else if (value < 0) {
      validations.push(
        new ValidationError({ field: "after_id", detail: `Query param "after_id" must not be negative, got ${after}` })
      )
    } else afterId = value
  }
  const limitText = parsed.values["limit"]
  if (limitText !== undefined) {
    const value = parseInt64("limit", limitText)
    if (value instanceof ValidationError) validations.push(value)
    else if (value < 1 || value > maxMessagesLimit) {
      validations.push(
        new ValidationError({
          field: "limit",
          detail: `Query param "limit" must be between 1 and ${maxMessagesLimit}, got ${limitText}`
        })
      )
    } else limit = value
  }
  // Report in the order of the parameters, as Coder does: known ones first, then unknown.
  validations.sort((a, b) => rank(a.field) - rank(b.field))
  return { query: { afterId, limit }, validations }
}

const rank = (field: string) => field === "after_id" ? 0 : field === "limit" ? 1 : 2
