/**
 * Reading taskd's event streams in tests, one event at a time: `reader` over a typed client's Stream (the
 * client's own SSE decoder, so what a test reads is what clients decode), and `openRaw` for the bytes
 * (comment lines, headers) over node:http. Waits are bounded: a missing event fails the test with what was
 * received instead of hanging it.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as http from "node:http"

/** How long a test waits for an event before it fails. */
export const eventDeadlineMs = 10_000

export interface Reader<A> {
  /** The next event; fails the test when none comes in time or the stream ended. */
  readonly next: Effect.Effect<A>
  /** The next `n` events. */
  readonly take: (n: number) => Effect.Effect<ReadonlyArray<A>>
  /** Events up to and including the first that satisfies `done`. */
  readonly until: (done: (event: A) => boolean) => Effect.Effect<ReadonlyArray<A>>
  /**
   * Waits for the stream to end cleanly (after the events still buffered, which it answers); fails the
   * test if it does not end, or fails.
   */
  readonly end: Effect.Effect<ReadonlyArray<A>>
}

/** Reads `stream` in the background for the life of the scope. */
export const reader = <A, E>(stream: Stream.Stream<A, E>): Effect.Effect<Reader<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Stream.toQueue(stream, { capacity: 100_000 })
    const seen: Array<A> = []
    const describe = () => `received so far: ${JSON.stringify(seen.slice(-5))}`
    const next = Queue.take(queue).pipe(
      Effect.timeoutOption(eventDeadlineMs),
      Effect.flatMap((event) =>
        event._tag === "None"
          ? Effect.die(new Error(`no event within ${eventDeadlineMs} ms; ${describe()}`))
          : Effect.sync(() => {
            seen.push(event.value)
            return event.value
          })
      ),
      Effect.catchCause((cause) =>
        Cause.hasDies(cause) ? Effect.failCause(cause) : Effect.die(
          new Error(`the stream ended or failed (${Cause.pretty(cause)}); ${describe()}`)
        )
      ),
      Effect.orDie
    )
    const take = (n: number) => Effect.forEach(Array.from({ length: n }), () => next)
    const until = (done: (event: A) => boolean) =>
      Effect.gen(function*() {
        const out: Array<A> = []
        for (;;) {
          const event = yield* next
          out.push(event)
          if (done(event)) return out
        }
      })
    const end = Effect.gen(function*() {
      const rest: Array<A> = []
      for (;;) {
        const taken = yield* Queue.take(queue).pipe(Effect.timeoutOption(eventDeadlineMs), Effect.exit)
        if (taken._tag === "Failure") {
          if (Pull.isDoneCause(taken.cause)) return rest
          return yield* Effect.die(new Error(`the stream failed: ${Cause.pretty(taken.cause)}; ${describe()}`))
        }
        if (taken.value._tag === "None") {
          return yield* Effect.die(new Error(`the stream did not end within ${eventDeadlineMs} ms; ${describe()}`))
        }
        rest.push(taken.value.value)
      }
    })
    return { next, take, until, end }
  })

export interface RawStream {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  /** Everything received so far. */
  readonly text: () => string
  /** Waits until what was received satisfies `done`; answers it. */
  readonly waitFor: (done: (text: string) => boolean) => Effect.Effect<string>
  /** Waits until the server ends the response; answers everything received. */
  readonly ended: Effect.Effect<string>
  /** Starts reading the body, when it was opened `paused`. */
  readonly resume: Effect.Effect<void>
}

/**
 * A GET of `path` on `base` read as raw text, for the life of the scope. `paused`: nothing of the body is
 * read until `resume` (a client too slow to keep up: the server's writes block once the socket is full).
 */
export const openRaw = (
  base: string,
  path: string,
  options: { readonly token?: string; readonly headers?: Record<string, string>; readonly paused?: boolean } = {}
): Effect.Effect<RawStream, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ request: http.ClientRequest; response: http.IncomingMessage; chunks: Array<string> }>((
      resume
    ) => {
      const request = http.get(`${base}${path}`, {
        headers: {
          ...(options.token === undefined ? {} : { "coder-session-token": options.token }),
          ...options.headers
        }
      }, (response) => {
        const chunks: Array<string> = []
        response.setEncoding("utf8")
        if (options.paused === true) response.pause()
        else response.on("data", (chunk: string) => chunks.push(chunk))
        resume(Effect.succeed({ request, response, chunks }))
      })
      request.on("error", (error) => resume(Effect.die(error)))
    }),
    ({ request }) => Effect.sync(() => request.destroy())
  ).pipe(Effect.map(({ chunks, response }): RawStream => {
    let ended = false
    response.on("end", () => ended = true)
    response.on("close", () => ended = true)
    const text = () => chunks.join("")
    const poll = <A>(check: () => A | undefined, what: string) =>
      Effect.gen(function*() {
        const deadline = Date.now() + eventDeadlineMs
        while (Date.now() < deadline) {
          const result = check()
          if (result !== undefined) return result
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        }
        return yield* Effect.die(new Error(`${what} within ${eventDeadlineMs} ms; received: ${text().slice(-500)}`))
      })
    return {
      status: response.statusCode ?? 0,
      headers: response.headers,
      text,
      waitFor: (done) => poll(() => done(text()) ? text() : undefined, "not received"),
      ended: poll(() => ended ? text() : undefined, "the response did not end"),
      resume: Effect.sync(() => {
        response.on("data", (chunk: string) => chunks.push(chunk))
        response.resume()
      })
    }
  }))
