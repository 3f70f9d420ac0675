/**
 * Times on the wire as Go's `time.Time` writes them: RFC 3339 with nanoseconds, trailing zeros trimmed,
 * and "Z" for a zero offset. Coder clients compare these strings, so taskd produces the same bytes.
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

/** Rewrites an RFC 3339 time the way Go re-encodes it after parsing, or returns undefined when Go would refuse it. */
export const canonicalRfc3339 = (input: string): string | undefined => {
  const match = rfc3339.exec(input)
  if (match === null) return undefined
  const [, year, month, day, hour, minute, second, fraction, offset] = match
  const y = Number(year), mo = Number(month), d = Number(day)
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined
  let zone = offset!
  if (zone !== "Z") {
    const offsetHours = Number(zone.slice(1, 3))
    const offsetMinutes = Number(zone.slice(4, 6))
    if (offsetHours > 23 || offsetMinutes > 59) return undefined
    if (offsetHours === 0 && offsetMinutes === 0) zone = "Z"
  }
  const nanos = (fraction ?? "").slice(0, 9).replace(/0+$/, "")
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${nanos === "" ? "" : `.${nanos}`}${zone}`
}

/** Go's zero `time.Time`, which is what a missing time decodes to. */
export const zeroTime = "0001-01-01T00:00:00Z"

/** An RFC 3339 time kept as text, normalised to Go's encoding; nanoseconds and offsets survive a round trip. */
export const Rfc3339String = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (input, _, ast) => {
    const canonical = canonicalRfc3339(input)
    return canonical === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, input, `parsing time ${JSON.stringify(input)} as RFC 3339`))
      : ParseResult.succeed(canonical)
  },
  encode: ParseResult.succeed
}).annotations({
  identifier: "Rfc3339",
  description: "An RFC 3339 time",
  jsonSchema: { type: "string", format: "date-time" }
})

/** Formats a Date as Go writes a UTC `time.Time`. */
export const formatTime = (date: Date): string => {
  const iso = date.toISOString() // always "YYYY-MM-DDTHH:MM:SS.mmmZ"
  const millis = iso.slice(20, 23).replace(/0+$/, "")
  return `${iso.slice(0, 19)}${millis === "" ? "" : `.${millis}`}Z`
}

/** A server-side timestamp: a Date in code, Go's RFC 3339 text on the wire. */
export const Timestamp = Schema.transformOrFail(Schema.String, Schema.DateFromSelf, {
  strict: true,
  decode: (input, _, ast) => {
    const canonical = canonicalRfc3339(input)
    const date = canonical === undefined ? undefined : new Date(canonical)
    return date === undefined || Number.isNaN(date.getTime())
      ? ParseResult.fail(new ParseResult.Type(ast, input, `parsing time ${JSON.stringify(input)} as RFC 3339`))
      : ParseResult.succeed(date)
  },
  encode: (date) => ParseResult.succeed(formatTime(date))
}).annotations({ identifier: "Timestamp", jsonSchema: { type: "string", format: "date-time" } })
