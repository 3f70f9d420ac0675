/**
 * Reading the SqlError of `@effect/sql-pg` 4: which Postgres error it was, and whether the database was
 * unreachable. Repositories turn the codes they expect into domain outcomes; every other SQL error is a
 * defect, which the HTTP edge turns into Coder's 400, 503 or 500 with these same predicates.
 *
 * The shape (effect/sql/SqlError): `SqlError { reason }`, where `reason._tag` classifies the failure
 * (`ConnectionError`, `UniqueViolation`, `ConstraintError`, `SqlSyntaxError`, `UnknownError`, ...) and
 * `reason.cause` is the original error. For an error Postgres sent, that cause is an `Error` carrying the
 * fields of the ErrorResponse (`code` is the SQLSTATE, also `detail`, `constraint`, `table`, ...). For a
 * socket failure it is the Node error (`code` is `ECONNREFUSED`, `ECONNRESET`, ...), with reason
 * `ConnectionError`.
 */
import * as Predicate from "effect/Predicate"
import { isSqlError, type SqlError } from "effect/sql/SqlError"

/** The SQLSTATE of an error Postgres reported (or the Node error code of a socket failure). */
export const pgCode = (error: SqlError): string | undefined => {
  const cause = error.reason.cause
  return Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
}

/** 23505: a unique index refused the row. */
export const isUniqueViolation = (error: SqlError): boolean => error.reason._tag === "UniqueViolation"

/**
 * Codes of a database that is down or unreachable: Postgres shutting down, restarting or out of
 * connection slots (57P0x, 53300), connection exceptions (08xxx), and the socket failures behind them.
 */
const unavailableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006"
])

/**
 * The database cannot be reached (refused, reset, timed out, shut down): an infrastructure failure that
 * clients may retry (503), not a bad query. Accepts any value, so it can be applied to a defect.
 */
export const isDatabaseUnavailable = (u: unknown): boolean => {
  if (!isSqlError(u)) return false
  if (u.reason._tag === "ConnectionError") return true
  const code = pgCode(u)
  if (code !== undefined && unavailableCodes.has(code)) return true
  const cause = u.reason.cause
  const message = `${u.reason.message ?? ""} ${Predicate.hasProperty(cause, "message") ? String(cause.message) : ""}`
  return /Connection terminated|connection (closed|ended)/i.test(message)
}

/**
 * Text Postgres cannot hold (22021: a NUL character in a text value; 22P05: `\u0000` in jsonb), which came
 * from the request: a client error (400), not a server one. Accepts any value, so it can be applied to a defect.
 */
export const isUnstorableText = (u: unknown): boolean => {
  if (!isSqlError(u)) return false
  const code = pgCode(u)
  return code === "22021" || code === "22P05"
}
