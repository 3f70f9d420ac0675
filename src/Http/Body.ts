/**
 * The CoderJsonBody middleware (declared in Api.ts, innermost on every group): reads a declared JSON
 * payload the way Coder's handlers do, then lets the framework decode it from the declaration.
 *
 * Why a middleware and not a payload codec: Go reads the FIRST JSON value of a body and ignores what follows
 * it, refuses nesting deeper than 10,000, ignores the Content-Type, and answers an empty body with "EOF".
 * The framework's JSON payload decoder runs `JSON.parse` on the whole text (and picks its decoder by
 * Content-Type) before any schema sees the value, so none of that can be said in a codec. The middleware
 * wraps the decoding instead: it reads the body under the endpoint's cap, parses and Go-shapes it against
 * the endpoint's payload schema (src/Domain/GoJson.ts), and runs the endpoint with a request whose body is
 * the normalised JSON, declared as `application/json`. The declared schema is what the server decodes, and a
 * host that mounts the groups gets the same reading. The usual body (exact keys, no nulls, one value) is
 * passed on as its own text; only a body that Go's reading changes is written out again. Either way the
 * framework parses the text once more: one more `JSON.parse` of a body of at most 1 MiB (64 KiB on the hot
 * upload path).
 *
 * The cap: the endpoint's `MaxBodyBytes` annotation, else the `HttpIncomingMessage.MaxBodySize` in effect,
 * else 1 MiB. A declared Content-Length over it is refused before a byte is read; otherwise the body is
 * read with `MaxBodySize` set to the cap, which the platform enforces while the body streams in (chunked
 * bodies and web handlers included). Either way the answer is Coder's 400 with `Connection: close`.
 */
import * as ByteSize from "effect/ByteSize"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as Headers from "effect/http/Headers"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import type { unhandled } from "effect/Types"
import { CoderJsonBody, MaxBodyBytes, PayloadErrorMessage } from "../Api.ts"
import { BadRequest } from "../Domain/CoderError.ts"
import { readGoJsonText } from "../Domain/GoJson.ts"
import { bodyTooLargeDetail, refuseAndClose } from "./Responses.ts"

/** Largest JSON body accepted by endpoints that have no limit of their own. */
export const defaultMaxBodyBytes = 1024 * 1024

/** The JSON payload schema an endpoint declares, if any. */
const jsonPayloadOf = (endpoint: HttpApiEndpoint.Top): Schema.Top | undefined => {
  for (const [contentType, entry] of endpoint.payload) {
    if (contentType === "application/json" && entry.encoding._tag === "Json") return entry.schemas[0] as Schema.Top
  }
  return undefined
}

const declaredLength = (request: HttpServerRequest.HttpServerRequest): number | undefined => {
  const header = request.headers["content-length"]
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined
}

const isBodyTooLarge = (error: { readonly reason: { readonly _tag: string; readonly reason?: string } }) =>
  error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"

const jsonContentType = "application/json"

/**
 * The request as the endpoint sees it: the same request, but its body is `json` (already read) and its
 * Content-Type is JSON. A view over the original, so everything else (url, cookies, source) is the same.
 */
const withJsonBody = (
  request: HttpServerRequest.HttpServerRequest,
  json: string
): HttpServerRequest.HttpServerRequest => {
  const text = Effect.succeed(json)
  const properties: PropertyDescriptorMap = {
    text: { value: text },
    json: { value: Effect.sync(() => JSON.parse(json)) },
    arrayBuffer: { value: Effect.sync(() => new TextEncoder().encode(json).buffer) }
  }
  if (request.headers["content-type"] !== jsonContentType) {
    properties.headers = { value: Headers.set(request.headers, "content-type", jsonContentType) }
  }
  return Object.create(request, properties)
}

/** The CoderJsonBody middleware. */
export const CoderJsonBodyLive: Layer.Layer<CoderJsonBody> = Layer.succeed(
  CoderJsonBody,
  (httpEffect, { endpoint }) => {
    const schema = jsonPayloadOf(endpoint)
    if (schema === undefined) return httpEffect
    const message = Context.get(endpoint.annotations, PayloadErrorMessage)
    const endpointLimit = Context.getOption(endpoint.annotations, MaxBodyBytes)
    const tooLarge = refuseAndClose(new BadRequest({ message, detail: bodyTooLargeDetail }))
    return Effect.withFiber<HttpServerResponse.HttpServerResponse, unhandled | BadRequest>((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const hostLimit = fiber.getRef(HttpIncomingMessage.MaxBodySize)
      const limit = endpointLimit._tag === "Some"
        ? endpointLimit.value
        : hostLimit === undefined
        ? defaultMaxBodyBytes
        : ByteSize.toNumberUnsafe(hostLimit)
      const length = declaredLength(request)
      if (length !== undefined && length > limit) return Effect.succeed(tooLarge)
      return request.arrayBuffer.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)),
        Effect.matchEffect({
          onFailure: (error): Effect.Effect<HttpServerResponse.HttpServerResponse, BadRequest> =>
            isBodyTooLarge(error)
              ? Effect.succeed(tooLarge)
              : Effect.fail(new BadRequest({ message, detail: `reading the request body failed: ${error.message}` })),
          onSuccess: (bytes): Effect.Effect<HttpServerResponse.HttpServerResponse, unhandled | BadRequest> => {
            const read = readGoJsonText(schema, new Uint8Array(bytes))
            if (Result.isFailure(read)) return Effect.fail(new BadRequest({ message, detail: read.failure }))
            // Go decodes a JSON `null` into a struct as "nothing set": the zero value.
            const json = read.success.value === null ? "{}" : read.success.text
            return Effect.provideService(httpEffect, HttpServerRequest.HttpServerRequest, withJsonBody(request, json))
          }
        })
      )
    })
  }
)
