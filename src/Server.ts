/**
 * The standalone HTTP server: taskd's routes, the OpenAPI document and docs page, Coder's 404 for unknown
 * routes, and a request log that never contains query strings (they may carry tokens).
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Taskd from "./Taskd.ts"

/** Coder answers unknown routes with this body. */
export const NotFoundRoute = Taskd.NotFoundRoute

const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/**
 * Logs method, path and status of every request at debug level; never the query string or headers. The
 * level is checked first: annotating the log rewrites fiber state, which every request paid for even
 * with debug off.
 */
const requestLog = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) =>
      Effect.tap(app, (response) =>
        Effect.logDebug("request").pipe(
          Effect.annotateLogs({ method: request.method, path: pathOf(request.url), status: response.status }),
          Effect.whenLogLevel("Debug")
        ))
  )

/** Serves taskd, built from `parts`, on whatever HttpServer is provided; needs a migrated SqlClient. */
export const layer = <E = never, R = never>(parts: Taskd.Parts<E, R> = {}) =>
  HttpLayerRouter.serve(Layer.mergeAll(Taskd.layer(parts), NotFoundRoute), {
    disableLogger: true,
    middleware: requestLog
  })
