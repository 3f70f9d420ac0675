/**
 * Many concurrent requests to one taskd instance, over real sockets, on every backend (the embedded PGlite
 * always, Postgres when TEST_DATABASE_URL is set): racing uploads, uploads racing deletes, creates racing
 * creates. On PGlite the requests race in the server (handlers, the upload guard, the one connection's
 * queue); on Postgres also in the database, on a pool of 4. The same scenarios with two instances on one
 * Postgres database are in test/MultiInstance.test.ts; the scenarios themselves are in support/Races.ts.
 */
import { layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Backends from "./support/Backends.ts"
import * as Races from "./support/Races.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

for (const backend of Backends.all) {
  const { layer: provisioner } = Workspaces.recording()
  layer(TestServer.layer(backend, { provisioner }), { timeout: 120_000, excludeTestServices: true })(
    `concurrency, one instance [${backend.name}]`,
    (it) => {
      it.effect(
        "200 concurrent uploads for 50 tasks: all 204, each task keeps one of its payloads, the latest captured",
        () =>
          Effect.gen(function*() {
            const { url } = yield* TestServer.baseUrl
            yield* Races.racingUploads([url], 50, 4)
          }),
        60_000
      )

      it.effect(
        "uploads racing deletes: 204, 404 or 401 (the delete build revokes the agent), never a 5xx, and no snapshot left for a deleted task",
        () =>
          Effect.gen(function*() {
            const { url } = yield* TestServer.baseUrl
            yield* Races.uploadsRacingDeletes([url], 40)
          }),
        60_000
      )

      it.effect("creates racing with the same name: one 201, the rest 409", () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer.baseUrl
          yield* Races.createsRacingOnOneName([url], 12)
        }), 60_000)
    }
  )
}
