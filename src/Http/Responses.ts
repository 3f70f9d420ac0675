/**
 * The over-cap body's 400, shared by the body reader and the edge.
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { type BadRequest, toBody } from "../Domain/CoderError.ts"

/** Go's MaxBytesReader error text, which Coder puts in the `detail` of an over-cap body's 400. */
export const bodyTooLargeDetail = "http: request body too large"

/**
 * A 400 that also closes the connection: the rest of an over-cap body is left unread, as Go does. The
 * HTTP server half-closes the socket and lingers before closing it, so the client still reads the 400
 * instead of losing it to a reset (Node: @effect/platform-node closes a `Connection: close` response whose
 * request body is unfinished with `end()`, then destroys the socket after a grace period).
 */
export const refuseAndClose = (error: BadRequest): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(toBody(error), { status: 400, headers: { connection: "close" } })
