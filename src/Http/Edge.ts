/**
 * The CoderEdge middleware (declared in Api.ts, on every group, outermost): whatever goes wrong around or
 * inside a handler reaches the client as Coder's body, never as an empty reply, an issue dump or an
 * internal message.
 *
 * - a request the framework cannot decode from the declaration (params, query, payload) is a 400;
 * - a defect (a bug, or an infrastructure failure that repositories turn into one) is a 500, or a 503 while
 *   the database cannot be reached, logged with its cause; text Postgres cannot store is the client's 400;
 * - a body read past its cap (by anything under the edge) is the 400 that closes the connection.
 *
 * Typed errors pass through: the framework encodes them with the endpoint's declared error schemas.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { HttpApiSchemaError } from "effect/http-api/HttpApiError"
import * as HttpServerError from "effect/http/HttpServerError"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type { unhandled } from "effect/Types"
import { CoderEdge, PayloadErrorMessage } from "../Api.ts"
import { isDatabaseUnavailable, isUnstorableText } from "../Database/Errors.ts"
import { BadRequest, InternalServerError, ServiceUnavailable } from "../Domain/CoderError.ts"
import { formatIssues } from "../Domain/SchemaIssues.ts"
import { bodyTooLargeDetail, refuseAndClose } from "./Responses.ts"

/** A body read under `HttpIncomingMessage.MaxBodySize` that went past it. */
const isBodyTooLarge = (defect: unknown): boolean =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError" &&
  defect.reason.reason === "BodyTooLarge"

const internalServerError = new InternalServerError({ message: "Internal server error", detail: "See the server log." })

const databaseUnavailable = new ServiceUnavailable({
  message: "The database is unavailable.",
  detail: "taskd cannot reach its database right now; retry shortly."
})

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
    : isDatabaseUnavailable(defect)
    ? Effect.andThen(Effect.logWarning("database unavailable", Cause.die(defect)), Effect.fail(databaseUnavailable))
    : Effect.andThen(Effect.logError("request failed", Cause.die(defect)), Effect.fail(internalServerError))

/** A request that does not decode from the declaration, in Coder's words; a response that does not encode is a bug. */
const schemaErrorToError = (
  error: HttpApiSchemaError,
  payloadMessage: string
): Effect.Effect<never, BadRequest | InternalServerError> => {
  switch (error.kind) {
    case "Payload":
      return Effect.fail(new BadRequest({ message: payloadMessage, detail: formatIssues(error.cause) }))
    case "Query":
      return Effect.fail(new BadRequest({ message: "Invalid query parameters.", detail: formatIssues(error.cause) }))
    case "Params":
      return Effect.fail(new BadRequest({ message: "Invalid path parameters.", detail: formatIssues(error.cause) }))
    case "Headers":
      return Effect.fail(new BadRequest({ message: "Invalid request headers.", detail: formatIssues(error.cause) }))
    case "Body":
    case "ResponseHeaders":
      return Effect.andThen(
        Effect.logError("response does not match the declaration", Cause.fail(error)),
        Effect.fail(internalServerError)
      )
  }
}

/** The CoderEdge middleware. */
export const CoderEdgeLive: Layer.Layer<CoderEdge> = Layer.succeed(CoderEdge, (httpEffect, { endpoint }) => {
  const payloadMessage = Context.get(endpoint.annotations, PayloadErrorMessage)
  const tooLarge = refuseAndClose(new BadRequest({ message: payloadMessage, detail: bodyTooLargeDetail }))
  const onError = (
    error: unhandled
  ): Effect.Effect<never, unhandled | BadRequest | InternalServerError> =>
    HttpApiSchemaError.is(error) ? schemaErrorToError(error, payloadMessage) : Effect.fail(error)
  const onDefect = (
    defect: unknown
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, BadRequest | InternalServerError | ServiceUnavailable> =>
    isBodyTooLarge(defect) ? Effect.succeed(tooLarge) : defectToError(defect)
  return httpEffect.pipe(Effect.catch(onError), Effect.catchDefect(onDefect))
})
