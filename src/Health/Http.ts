/**
 * `GET /healthz` (the process is alive) and `GET /readyz` (this instance takes new requests), without
 * authentication. Readiness answers 503 from the moment the instance's shutdown begins (Lifecycle), and
 * otherwise asks the database on every call, so it turns green again as soon as the database is back.
 * Liveness stays 200 until the process exits.
 */
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as SqlClient from "effect/sql/SqlClient"
import { Api } from "../Api.ts"
import { ServiceUnavailable } from "../Domain/CoderError.ts"
import { Lifecycle } from "./Lifecycle.ts"

/** How long readiness waits for the database before answering 503. */
const readinessTimeout = "3 seconds"

const ok = { status: "ok" } as const

const shuttingDown = new ServiceUnavailable({
  message: "The server is shutting down.",
  detail: "This taskd instance finishes the requests it has and takes no new ones; send them to another instance."
})

export const HealthHandlers = HttpApiBuilder.group(
  Api,
  "health",
  Effect.fn(function*(handlers) {
    const sql = yield* SqlClient.SqlClient
    const lifecycle = yield* Lifecycle
    const databaseReachable = sql`SELECT 1`.pipe(
      Effect.timeout(readinessTimeout),
      Effect.as(ok),
      Effect.catchCause((cause) =>
        Effect.andThen(
          Effect.logWarning("readiness check: database unreachable", cause),
          Effect.fail(
            new ServiceUnavailable({
              message: "The database is unavailable.",
              detail: "taskd cannot reach its database right now; retry shortly."
            })
          )
        )
      )
    )
    return handlers
      .handle("healthz", () => Effect.succeed(ok))
      .handle(
        "readyz",
        Effect.fn("Health.readyz")(function*() {
          if (yield* lifecycle.draining) return yield* Effect.fail(shuttingDown)
          return yield* databaseReachable
        })
      )
  })
)
