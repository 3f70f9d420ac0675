/**
 * UUIDs as google/uuid's `Parse` reads them: the usual 36-character form, `{...}`, `urn:uuid:...` and
 * 32 bare hex digits; always returned in the canonical lower-case form.
 */
import * as Either from "effect/Either"

const canonical = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const hex32 = /^[0-9a-f]{32}$/

/** The canonical UUID, or google/uuid's error text. */
export const parseUuid = (input: string): Either.Either<string, string> => {
  let value = input.toLowerCase()
  switch (value.length) {
    case 36:
      break
    case 38:
      if (!value.startsWith("{") || !value.endsWith("}")) return Either.left("invalid UUID format")
      value = value.slice(1, 37)
      break
    case 45:
      if (!value.startsWith("urn:uuid:")) return Either.left(`invalid urn prefix: ${JSON.stringify(input.slice(0, 9))}`)
      value = value.slice(9)
      break
    case 32:
      if (!hex32.test(value)) return Either.left("invalid UUID format")
      return Either.right(
        `${value.slice(0, 8)}-${value.slice(8, 12)}-${value.slice(12, 16)}-${value.slice(16, 20)}-${value.slice(20)}`
      )
    default:
      return Either.left(`invalid UUID length: ${input.length}`)
  }
  return canonical.test(value) ? Either.right(value) : Either.left("invalid UUID format")
}

/** True for the canonical 36-character form only (what taskd itself writes). */
export const isCanonicalUuid = (value: string): boolean => canonical.test(value.toLowerCase())
