/**
 * Reading request bodies the way Coder's handlers do, with a byte cap enforced while the body streams in:
 * a body over the cap is refused from its Content-Length, or as soon as the cap is crossed, and is never
 * buffered whole. Lives inside the handlers, so it holds wherever the API is mounted.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import { type BadRequest, BadRequestResponse } from "../Domain/CoderError.ts"
import { goShape } from "./GoJson.ts"
import { firstJsonValue } from "./Json.ts"

/** The body is larger than the cap; Go's MaxBytesReader says "http: request body too large". */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {
  override get message() {
    return "http: request body too large"
  }
}

/** The client went away or the stream broke before the body was complete. */
export class BodyReadFailed extends Data.TaggedError("BodyReadFailed")<{ readonly cause: unknown }> {
  override get message() {
    return `reading the request body failed: ${String(this.cause)}`
  }
}

/** The body is not one JSON value; the message reads like Go's decoder error. */
export class BodyNotJson extends Data.TaggedError("BodyNotJson")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The JSON does not have the declared shape. */
export class BodyInvalid extends Data.TaggedError("BodyInvalid")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** Largest JSON body accepted by endpoints that have no limit of their own. */
export const defaultMaxJsonBytes = 1024 * 1024

const declaredLength = (request: HttpServerRequest.HttpServerRequest): number | undefined => {
  const header = request.headers["content-length"]
  if (header === undefined || !/^\d+$/.test(header)) return undefined
  return Number(header)
}

/** Node's request object, when the server is Node's (or Deno's Node compatibility layer). */
const nodeReadable = (request: HttpServerRequest.HttpServerRequest): Readable | undefined => {
  const source = request.source as Partial<Readable>
  return typeof source.on === "function" && typeof source.pause === "function" && typeof source.off === "function"
    ? source as Readable
    : undefined
}

/** The socket under a Node request: the parts that closing it involves. */
interface ClosingSocket {
  end(): unknown
  destroy(): unknown
  destroySoon?: () => void
}

/**
 * How long a socket left with unread input stays half-closed before it is closed: Go's
 * rstAvoidanceDelay. Closing a socket whose input was not all read makes the kernel send a reset, and a
 * reset that arrives before the client has read the 400 destroys it (seen for 3 in 20 chunked 100 MB
 * uploads on the embedded backend).
 */
const lingerMillis = 500

/**
 * Makes the close that follows the `Connection: close` response shut the write side first (the client
 * sees the 400 and a clean end) and close the socket only after `lingerMillis`. Node closes through
 * `destroySoon`; a server without it (another runtime) is left as it is.
 */
const lingerBeforeClose = (incoming: Readable) => {
  const socket = (incoming as { socket?: ClosingSocket }).socket
  if (socket === undefined || typeof socket.destroySoon !== "function") return
  socket.destroySoon = () => {
    socket.end()
    setTimeout(() => socket.destroy(), lingerMillis).unref()
  }
}

/**
 * Reads a Node request body. Past the cap it pauses the request instead of destroying it, so the 400 can
 * still be sent; that response carries `Connection: close`, the rest of the body is never read, and the
 * socket lingers half-closed so that the 400 is not lost to a reset.
 */
const readNode = (incoming: Readable, limit: number) =>
  Effect.async<Uint8Array, BodyTooLarge | BodyReadFailed>((resume) => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    const cleanup = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onError)
      incoming.off("aborted", onAborted)
    }
    const onData = (chunk: Uint8Array) => {
      size += chunk.byteLength
      if (size > limit) {
        cleanup()
        incoming.pause()
        lingerBeforeClose(incoming)
        resume(Effect.fail(new BodyTooLarge({ limit })))
      } else {
        chunks.push(chunk)
      }
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(concat(chunks, size)))
    }
    const onError = (cause: unknown) => {
      cleanup()
      resume(Effect.fail(new BodyReadFailed({ cause })))
    }
    const onAborted = () => onError(new Error("client aborted the request"))
    if (incoming.readableEnded) {
      resume(Effect.succeed(new Uint8Array(0)))
      return
    }
    incoming.on("data", onData)
    incoming.on("end", onEnd)
    incoming.on("error", onError)
    incoming.on("aborted", onAborted)
    return Effect.sync(() => {
      cleanup()
      incoming.pause()
    })
  })

/** A fetch-style body: cancelling the stream past the cap does not stop the response from being sent. */
const readStream = (request: HttpServerRequest.HttpServerRequest, limit: number, length: number | undefined) =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return request.stream.pipe(
      Stream.mapError((cause) => new BodyReadFailed({ cause })),
      Stream.runForEach((chunk): Effect.Effect<void, BodyTooLarge> => {
        size += chunk.byteLength
        if (size > limit) return Effect.fail(new BodyTooLarge({ limit }))
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => concat(chunks, size)),
      // A fetch-style request without a body has no stream at all.
      Effect.catchIf(
        (error) => error._tag === "BodyReadFailed" && length === undefined && isMissingBody(error),
        () => Effect.succeed(new Uint8Array(0))
      )
    )
  })

/** Reads the whole body, failing with BodyTooLarge as soon as it is known to exceed `limit` bytes. */
export const readBytes = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<Uint8Array, BodyTooLarge | BodyReadFailed> => {
  const length = declaredLength(request)
  const incoming = nodeReadable(request)
  if (length !== undefined && length > limit) {
    if (incoming !== undefined) lingerBeforeClose(incoming)
    return Effect.fail(new BodyTooLarge({ limit }))
  }
  if (length === 0) return Effect.succeed(new Uint8Array(0))
  return incoming === undefined ? readStream(request, limit, length) : readNode(incoming, limit)
}

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

const isMissingBody = (error: BodyReadFailed): boolean =>
  typeof error.cause === "object" && error.cause !== null && "description" in error.cause &&
  error.cause.description === "can not create stream from empty body"

/** Invalid UTF-8 becomes U+FFFD, as Go's decoder does. */
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })

/** Reads the body and parses its first JSON value, as Go's `json.NewDecoder(body).Decode` does. */
export const readJson = (request: HttpServerRequest.HttpServerRequest, limit: number) =>
  Effect.flatMap(readBytes(request, limit), (bytes) => {
    const parsed = firstJsonValue(utf8.decode(bytes))
    return Either.isLeft(parsed) ? Effect.fail(new BodyNotJson({ reason: parsed.left })) : Effect.succeed(parsed.right)
  })

/** Formats schema issues as one short line: `path: problem; path: problem`. */
export const formatIssues = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message)
    .join("; ")

/** Reads, parses and decodes a JSON body with `schema`. */
export const readJsonAs = <A, I>(
  request: HttpServerRequest.HttpServerRequest,
  schema: Schema.Schema<A, I>,
  limit: number = defaultMaxJsonBytes
): Effect.Effect<A, BodyTooLarge | BodyReadFailed | BodyNotJson | BodyInvalid> =>
  Effect.flatMap(
    readJson(request, limit),
    (json) =>
      Effect.suspend(() => Schema.decodeUnknown(schema, { errors: "all" })(goShape(json, schema.ast))).pipe(
        Effect.mapError((error) => new BodyInvalid({ reason: formatIssues(error) })),
        // A deeply nested value exhausts the stack of the decoder or of the issue formatter.
        Effect.catchAllDefect(() => new BodyInvalid({ reason: "the body is nested too deeply" }))
      )
  )

/** A 400 that also closes the connection: the rest of an over-sized body is left unread, as Go does. */
const refuseAndClose = (error: BadRequest) =>
  HttpServerResponse.unsafeJson(Schema.encodeSync(BadRequestResponse)(error), {
    status: 400,
    headers: { connection: "close" }
  })

/**
 * Runs `use` on a body read by `read`. A body that cannot be used is refused with `refuse`'s 400; one over
 * the cap is answered with that 400 as a response of its own that closes the connection.
 */
export const withBody = <A, B, E, R>(
  read: Effect.Effect<A, BodyTooLarge | BodyReadFailed | BodyNotJson | BodyInvalid>,
  refuse: (error: BodyTooLarge | BodyReadFailed | BodyNotJson | BodyInvalid) => BadRequest,
  use: (body: A) => Effect.Effect<B, E, R>
): Effect.Effect<B | HttpServerResponse.HttpServerResponse, E | BadRequest, R> =>
  Effect.flatMap(
    Effect.either(read),
    (body): Effect.Effect<B | HttpServerResponse.HttpServerResponse, E | BadRequest, R> => {
      if (Either.isRight(body)) return use(body.right)
      const error = body.left
      return error._tag === "BodyTooLarge" ? Effect.succeed(refuseAndClose(refuse(error))) : Effect.fail(refuse(error))
    }
  )
