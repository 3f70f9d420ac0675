/**
 * Times on the wire as Go's `time.Time` writes them: RFC 3339 with nanoseconds, trailing zeros trimmed,
 * and "Z" for a zero offset. Coder clients compare these strings, so taskd produces the same bytes.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"

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

/** The schema issue for a time Go would refuse, with Go's words. */
const notRfc3339 = (input: string, options: SchemaAST.ParseOptions) =>
  Effect.fail(
    new SchemaIssue.InvalidValue({ message: `parsing time ${JSON.stringify(input)} as RFC 3339` }, input, options)
  )

const dateTimeJsonSchema = { format: "date-time" }

/** An RFC 3339 time kept as text, normalised to Go's encoding; nanoseconds and offsets survive a round trip. */
export const Rfc3339String = Schema.String.annotate(dateTimeJsonSchema).pipe(
  Schema.decodeTo(
    Schema.String,
    SchemaTransformation.transformEffect({
      decode: (input: string, options) => {
        const canonical = canonicalRfc3339(input)
        return canonical === undefined ? notRfc3339(input, options) : Effect.succeed(canonical)
      },
      encode: (value: string) => Effect.succeed(value)
    })
  )
).annotate({ identifier: "Rfc3339", description: "An RFC 3339 time" })

/** Formats a Date as Go writes a UTC `time.Time`. */
export const formatTime = (date: Date): string => {
  const iso = date.toISOString() // always "YYYY-MM-DDTHH:MM:SS.mmmZ"
  const millis = iso.slice(20, 23).replace(/0+$/, "")
  return `${iso.slice(0, 19)}${millis === "" ? "" : `.${millis}`}Z`
}

/** A server-side timestamp: a Date in code, Go's RFC 3339 text on the wire. */
export const Timestamp = Schema.String.annotate(dateTimeJsonSchema).pipe(
  Schema.decodeTo(
    Schema.Date,
    SchemaTransformation.transformEffect({
      decode: (input: string, options) => {
        const canonical = canonicalRfc3339(input)
        const date = canonical === undefined ? undefined : new Date(canonical)
        return date === undefined || Number.isNaN(date.getTime())
          ? notRfc3339(input, options)
          : Effect.succeed(date)
      },
      encode: (date: Date) => Effect.succeed(formatTime(date))
    })
  )
).annotate({ identifier: "Timestamp" })
