/**
 * taskd assembled from replaceable parts. The handlers need a SqlClient and a TokenAuth; everything
 * else they use is built here from those, and each part can be swapped by the host.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as Layer from "effect/Layer"
import { Api } from "./Api.ts"
import * as AuthMiddleware from "./Auth/Middleware.ts"
import * as TokenAuth from "./Auth/TokenAuth.ts"
import { AgentHandlers } from "./Snapshots/Http.ts"
import { TemplatesHandlers } from "./Templates/Http.ts"
import { UsersHandlers } from "./Users/Http.ts"

/** Every group's handlers, with the authentication middlewares; needs SqlClient and TokenAuth. */
export const Handlers = Layer.mergeAll(UsersHandlers, TemplatesHandlers, AgentHandlers).pipe(
  Layer.provide(AuthMiddleware.layer)
)

/** The API's routes for an `HttpLayerRouter`; needs SqlClient and TokenAuth. */
export const Routes = HttpLayerRouter.addHttpApi(Api).pipe(Layer.provide(Handlers))

/** taskd's own TokenAuth (API keys and agent tokens in its database); needs SqlClient. */
export const DefaultTokenAuth = TokenAuth.layer
