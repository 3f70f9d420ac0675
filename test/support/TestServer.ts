/**
 * taskd served on a real socket for tests, with an HttpClient pointed at it and the SqlClient beside it
 * (for fixtures that no endpoint can create). Everything goes through HTTP: the typed client is derived
 * from the HttpApi declaration, raw requests are in Http.ts.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { Api } from "../../src/Api.ts"
import * as Database from "../../src/Database/Database.ts"
import * as Server from "../../src/Server.ts"
import type { Backend } from "./Backends.ts"
import * as Workspaces from "./Workspaces.ts"

/**
 * taskd served as `taskd serve` serves it (routes, docs, Coder's 404, request log), on a free port of
 * 127.0.0.1, on `backend`.
 */
export const layer = <E = never, R = never>(backend: Backend, parts: Server.Parts<E, R> = {}) =>
  Server.serve(parts).pipe(
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

export interface Address {
  /** A host to connect to (127.0.0.1, or an IPv6 literal without brackets). */
  readonly host: string
  readonly port: number
  /** `http://host:port`, for fetch. */
  readonly url: string
}

/** Where a served HttpServer can be reached from this process. */
export const addressOf = (server: HttpServer.HttpServer["Service"]): Address => {
  const address = server.address
  if (NetAddress.isUnixPathAddress(address)) throw new Error("test server is not on TCP")
  const host = address._tag === "InetAddressV4" || NetAddress.isUnspecified(address.address)
    ? "127.0.0.1"
    : NetAddress.formatIp(address.address)
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
  return { host, port: address.port, url }
}

/** The test server's address, for requests the typed client cannot make (malformed bodies, raw sockets). */
export const baseUrl: Effect.Effect<Address, never, HttpServer.HttpServer> = Effect.gen(function*() {
  return addressOf(yield* HttpServer.HttpServer)
})

/**
 * One more taskd instance on the Postgres database at `databaseUrl`, for the life of the scope: its own
 * pool (`poolSize`), HTTP server, job runner and recording provisioner, built in a memo map of its own (so
 * nothing is shared with another instance, or with an enclosing `layer(...)`). `run` provides its context
 * (SqlClient, HttpClient pointed at it) to fixtures.
 */
export const instance = (databaseUrl: string, options: { readonly poolSize?: number } = {}) =>
  Effect.gen(function*() {
    const { layer: provisioner, record } = Workspaces.recording()
    const served = Server.serve({ provisioner }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest),
      Layer.provideMerge(Database.migrated(Database.postgres(Redacted.make(databaseUrl), options.poolSize ?? 4)))
    )
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithMemoMap(served, Layer.makeMemoMapUnsafe(), scope)
    const { url: base } = addressOf(Context.get(context, HttpServer.HttpServer))
    const run = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, context)
    return { base, context, record, run, sql: Context.get(context, SqlClient.SqlClient) }
  })
