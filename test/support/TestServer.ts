/**
 * taskd served on a real socket for tests, with an HttpClient pointed at it and the SqlClient beside it
 * (for fixtures that no endpoint can create).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Api } from "../../src/Api.ts"
import * as Server from "../../src/Server.ts"
import type * as Taskd from "../../src/Taskd.ts"
import type { Backend } from "./Backends.ts"

/** The standalone server on a free port, on `backend`. */
export const layer = <E = never, R = never>(backend: Backend, parts: Taskd.Parts<E, R> = {}) =>
  Server.layer(parts).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(backend.layer)
  )

/** A typed client that sends `token` as `Coder-Session-Token` (or no token at all). */
export const clientFor = (token?: string) =>
  HttpApiClient.make(Api, {
    transformClient: token === undefined
      ? undefined
      : HttpClient.mapRequest(HttpClientRequest.setHeader("Coder-Session-Token", token))
  })

/** The server's base URL, for requests the typed client cannot make (malformed bodies, raw sockets). */
export const baseUrl = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address
  if (address._tag !== "TcpAddress") throw new Error("test server is not on TCP")
  return { host: address.hostname === "::" ? "127.0.0.1" : address.hostname, port: address.port }
})
