/**
 * `taskd serve` as `npm start` runs it (a child process, tracer disabled) counts requests all the same, and
 * `--metrics-port` moves `/metrics` to a listener of its own.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildServer from "./support/ChildServer.ts"
import { send } from "./support/Http.ts"
import { freePort } from "./support/Net.ts"
import { delta, parseExposition } from "./support/Prometheus.ts"

const scrape = (base: string) =>
  Effect.promise(async () => {
    const response = await send(base, "GET", "/metrics")
    assert.strictEqual(response.status, 200, response.text)
    return parseExposition(response.text)
  })

describe("taskd serve --metrics-port", () => {
  it.live("serves /metrics on its own port only, and counts the API's requests", () =>
    Effect.gen(function*() {
      const metricsPort = yield* freePort
      const taskd = yield* ChildServer.start({ TASKD_DATA_DIR: "memory://" }, [
        "--metrics-port",
        String(metricsPort)
      ])
      const metrics = `http://127.0.0.1:${metricsPort}`

      const before = yield* scrape(metrics)
      for (let i = 0; i < 2; i++) {
        assert.strictEqual((yield* Effect.promise(() => send(taskd.url, "GET", "/healthz"))).status, 200)
      }
      const onApiPort = yield* Effect.promise(() => send(taskd.url, "GET", "/metrics"))
      assert.strictEqual(onApiPort.status, 404)
      assert.deepStrictEqual(onApiPort.json, { message: "Route not found." })
      const after = yield* scrape(metrics)

      const requests = "taskd_http_requests_total"
      assert.strictEqual(delta(before, after, requests, { method: "GET", route: "/healthz", status: "2xx" }), 2)
      assert.strictEqual(delta(before, after, requests, { method: "GET", route: "unmatched", status: "4xx" }), 1)
      assert.isAbove(
        delta(before, after, "taskd_http_request_duration_seconds_sum", {
          method: "GET",
          route: "/healthz",
          status: "2xx"
        }),
        0
      )
      assert.strictEqual((yield* Effect.promise(() => send(metrics, "GET", "/api/v2/users/me"))).status, 404)
    }).pipe(Effect.scoped), { timeout: 120_000 })
})
