/**
 * Ports for tests. The one place that finds a free port: servers under test listen on port 0 when they
 * can; a child process, a Postgres server or a "nothing listens here" probe needs the number first.
 */
import * as Effect from "effect/Effect"
import { createServer } from "node:net"

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: bound to port 0, then released. Nothing listens on
 * it afterwards, so it also serves as "a port nothing listens on".
 */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const probe = createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** Real time, whatever clock the test runs on. */
export const sleepLive = (millis: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))
