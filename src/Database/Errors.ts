/**
 * Postgres error codes that repositories turn into domain outcomes; every other SQL error is a defect.
 */
import type { SqlError } from "@effect/sql/SqlError"

const pgCode = (error: SqlError): string | undefined => {
  const cause = error.cause as { code?: unknown } | undefined
  return typeof cause?.code === "string" ? cause.code : undefined
}

/** 23505: a unique index refused the row. */
export const isUniqueViolation = (error: SqlError): boolean => pgCode(error) === "23505"
