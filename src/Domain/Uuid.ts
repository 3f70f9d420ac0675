/**
 * UUIDs as google/uuid's `Parse` reads them: the usual 36-character form, `{...}`, `urn:uuid:...` and
 * 32 bare hex digits; always returned in the canonical lower-case form.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

const canonical = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const hex32 = /^[0-9a-f]{32}$/

/** The canonical UUID, or google/uuid's error text. */
export const parseUuid = (input: string): Result.Result<string, string> => {
  let value = input.toLowerCase()
  switch (value.length) {
    case 36:
      break
    case 38:
      if (!value.startsWith("{") || !value.endsWith("}")) return Result.fail("invalid UUID format")
      value = value.slice(1, 37)
      break
    case 45:
      if (!value.startsWith("urn:uuid:")) return Result.fail(`invalid urn prefix: ${JSON.stringify(input.slice(0, 9))}`)
      value = value.slice(9)
      break
    case 32:
      if (!hex32.test(value)) return Result.fail("invalid UUID format")
      return Result.succeed(
        `${value.slice(0, 8)}-${value.slice(8, 12)}-${value.slice(12, 16)}-${value.slice(16, 20)}-${value.slice(20)}`
      )
    default:
      return Result.fail(`invalid UUID length: ${input.length}`)
  }
  return canonical.test(value) ? Result.succeed(value) : Result.fail("invalid UUID format")
}

/** True for the canonical 36-character form only (what taskd itself writes). */
export const isCanonicalUuid = (value: string): boolean => canonical.test(value.toLowerCase())

const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/**
 * A UUID in the 8-4-4-4-12 hex form, any case, any version (Effect 3's `Schema.UUID`, which taskd's wire
 * types used). Effect 4's `Schema.isUUID()` also checks version and variant bits, which Coder does not.
 */
export const Uuid = Schema.String.check(
  Schema.isPattern(uuidPattern, {
    expected: "UUID",
    toJsonSchema: () => ({ format: "uuid", pattern: uuidPattern.source })
  })
).annotate({ identifier: "UUID" })
