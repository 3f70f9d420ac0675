/**
 * The last step of every handler: a defect (a bug, or an infrastructure failure that repositories let
 * through) becomes Coder's 500 body, or a 503 when the database cannot be reached, and is logged with its
 * cause. Clients never see an empty reply or an internal message.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { BadRequest, InternalServerError, ServiceUnavailable } from "../Domain/CoderError.ts"

/** Connection-level failures: the database is down or unreachable, not a bad query. */
const isUnavailable = (defect: unknown): boolean => {
  if (!(defect instanceof SqlError)) return false
  const cause = defect.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === "string" ? cause.code : ""
  const message = typeof cause?.message === "string" ? cause.message : ""
  return ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "57P01", "57P02", "57P03", "08000", "08003", "08006"]
    .includes(code) || /Connection terminated|timeout exceeded when trying to connect/i.test(message)
}

/**
 * Text Postgres cannot hold (22021: a NUL character in a text value, 22P05: untranslatable), which came
 * from the request: a client error, not a server one.
 */
const isUnstorableText = (defect: unknown): boolean =>
  defect instanceof SqlError &&
  ["22021", "22P05"].includes(String((defect.cause as { code?: unknown } | undefined)?.code))

/** A defect as the error the client gets (400, 503 or 500), logged with its cause. */
export const defectToError = (
  defect: unknown
): Effect.Effect<never, BadRequest | InternalServerError | ServiceUnavailable> =>
  isUnstorableText(defect)
    ? Effect.fail(
      new BadRequest({
        message: "Request contains text that cannot be stored.",
        detail: "NUL characters (\\u0000) are not allowed in text."
      })
    )
    : isUnavailable(defect)
    ? Effect.zipRight(
      Effect.logWarning("database unavailable", Cause.die(defect)),
      Effect.fail(
        new ServiceUnavailable({
          message: "The database is unavailable.",
          detail: "taskd cannot reach its database right now; retry shortly."
        })
      )
    )
    : Effect.zipRight(
      Effect.logError("request failed", Cause.die(defect)),
      Effect.fail(new InternalServerError({ message: "Internal server error", detail: "See the server log." }))
    )

export const edge = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | BadRequest | InternalServerError | ServiceUnavailable, R> =>
  Effect.catchAllDefect(effect, defectToError)
