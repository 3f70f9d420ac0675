/**
 * `GET /metrics`: read before and after real requests, the counters move by exactly what was done; the
 * database's gauges match what the API shows; the token rule; and no label holds a raw path, a token or a
 * query string. The exposition text is parsed line by line (test/support/Prometheus.ts), not searched.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Database from "../src/Database/Database.ts"
import { allTaskStatuses } from "../src/Domain/Task.ts"
import * as MetricsRoute from "../src/Observability/MetricsRoute.ts"
import * as Server from "../src/Server.ts"
import * as Backends from "./support/Backends.ts"
import { adminToken, createTemplate, createUser } from "./support/Fixtures.ts"
import { request, type RequestOptions, snapshotBody, upload } from "./support/Http.ts"
import { freePort } from "./support/Net.ts"
import { delta, has, labelValues, parseExposition, valueOf } from "./support/Prometheus.ts"
import { createActiveTask, createTask, noJobWorkers, pollUntil, waitForStatus, withEnv } from "./support/TaskFlow.ts"
import * as TestServer from "./support/TestServer.ts"
import * as Workspaces from "./support/Workspaces.ts"

// -----------------------------------------------------------------------------------------------------------
// Scraping
// -----------------------------------------------------------------------------------------------------------

const metricsRequest = (options: RequestOptions = {}) => request("GET", "/metrics", options)

/** A scrape that must succeed: 200, Prometheus's content type, a well-formed exposition. */
const scrape = (options: RequestOptions = {}) =>
  Effect.gen(function*() {
    const response = yield* metricsRequest(options)
    assert.strictEqual(response.status, 200, response.text)
    assert.match(response.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/)
    return parseExposition(response.text)
  })

const http = "taskd_http_requests_total"
const duration = "taskd_http_request_duration_seconds"
const taskRoute = "/api/v2/tasks/:user/:task"
const uploadRoute = "/api/v2/workspaceagents/me/tasks/:task/log-snapshot"

for (const backend of Backends.all) {
  const { layer: provisioner, record } = Workspaces.recording()

  layer(TestServer.layer(backend, { provisioner }), { timeout: 120_000, excludeTestServices: true })(
    `Metrics [${backend.name}]`,
    (it) => {
      describe("HTTP requests", () => {
        it.effect("counted by route template and status class, with the latency histogram moving alike", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const task = yield* createTask(user, template.versionId)
            const client = yield* TestServer.clientFor(user.token)
            const secret = "querysecret-8f2a"

            const before = yield* scrape()
            for (let i = 0; i < 3; i++) {
              const got = yield* client.tasks.get({ params: { user: user.username, task: task.id } })
              assert.strictEqual(got.id, task.id)
            }
            const missing = yield* request("GET", `/api/v2/tasks/${user.username}/no-such-task`, { token: user.token })
            assert.strictEqual(missing.status, 404)
            const unknown = yield* request("GET", `/api/v2/no/such/route?token=${secret}`)
            assert.strictEqual(unknown.status, 404)
            assert.deepStrictEqual(unknown.json, { message: "Route not found." })
            const after = yield* scrape({ headers: { "x-note": secret } })

            const get = { method: "GET", route: taskRoute }
            assert.strictEqual(delta(before, after, http, { ...get, status: "2xx" }), 3)
            assert.strictEqual(delta(before, after, http, { ...get, status: "4xx" }), 1)
            assert.strictEqual(delta(before, after, http, { ...get, status: "5xx" }), 0)
            assert.strictEqual(delta(before, after, http, { method: "GET", route: "unmatched", status: "4xx" }), 1)
            // The first scrape was counted once it was answered.
            assert.strictEqual(delta(before, after, http, { method: "GET", route: "/metrics", status: "2xx" }), 1)
            // The histogram counts the same requests, in its buckets too.
            for (const status of ["2xx", "4xx"]) {
              const labels = { ...get, status }
              const counted = delta(before, after, http, labels)
              assert.strictEqual(delta(before, after, `${duration}_count`, labels), counted)
              assert.strictEqual(delta(before, after, `${duration}_bucket`, { ...labels, le: "+Inf" }), counted)
              assert.isAbove(delta(before, after, `${duration}_sum`, labels), 0)
            }
            // Buckets are cumulative.
            const buckets = after.samples.filter((sample) =>
              sample.name === `${duration}_bucket` && sample.labels.route === taskRoute &&
              sample.labels.status === "2xx" && sample.labels.method === "GET"
            )
            assert.isAbove(buckets.length, 5)
            for (let i = 1; i < buckets.length; i++) assert.isAtLeast(buckets[i]!.value, buckets[i - 1]!.value)

            assert.strictEqual(after.types.get(http), "counter")
            assert.strictEqual(after.types.get(duration), "histogram")
            // No label is a raw path, a query, a token or an id: routes are templates.
            for (const value of labelValues(after)) {
              for (const forbidden of [secret, task.id, user.username, user.token, "no-such-task", "?", "/no/such"]) {
                assert.notInclude(value, forbidden)
              }
            }
            const routes = new Set(after.samples.flatMap((sample) => sample.labels.route ?? []))
            for (const route of routes) assert.isTrue(route === "unmatched" || route.startsWith("/"), route)
            assert.isTrue(routes.has(taskRoute))
          }))

        it.effect("a method taskd does not know is one label value, `other`", () =>
          Effect.gen(function*() {
            const address = yield* TestServer.baseUrl
            const before = yield* scrape()
            // A method Node parses but no route of taskd's has.
            const propfind = yield* Effect.promise(() => fetch(`${address.url}/healthz`, { method: "PROPFIND" }))
            assert.strictEqual(propfind.status, 404)
            const after = yield* scrape()
            assert.strictEqual(delta(before, after, http, { method: "other", route: "unmatched", status: "4xx" }), 1)
            assert.notInclude(labelValues(after), "PROPFIND")
          }))
      })

      describe("snapshot uploads", () => {
        it.effect("a stored upload of N bytes: count +1, size sum +N; a refused one is only its route's 4xx", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const { agentToken, task } = yield* createActiveTask(user, template.versionId, record)
            const body = snapshotBody("a conversation worth keeping: ünïcödé counts in bytes")
            const bytes = Buffer.byteLength(body)

            const before = yield* scrape()
            const stored = yield* upload(agentToken, task.id, body)
            assert.isTrue(stored.status >= 200 && stored.status < 300, stored.text)
            const refused = yield* upload(agentToken, task.id, "{}")
            assert.strictEqual(refused.status, 400)
            const after = yield* scrape()

            assert.strictEqual(delta(before, after, "taskd_snapshot_uploads_total"), 1)
            assert.strictEqual(delta(before, after, "taskd_snapshot_upload_bytes_count"), 1)
            assert.strictEqual(delta(before, after, "taskd_snapshot_upload_bytes_sum"), bytes)
            assert.strictEqual(delta(before, after, "taskd_snapshot_upload_bytes_bucket", { le: "+Inf" }), 1)
            const post = { method: "POST", route: uploadRoute }
            assert.strictEqual(delta(before, after, http, { ...post, status: "2xx" }), 1)
            assert.strictEqual(delta(before, after, http, { ...post, status: "4xx" }), 1)
            assert.strictEqual(after.types.get("taskd_snapshot_upload_bytes"), "histogram")
            for (const value of labelValues(after)) assert.notInclude(value, agentToken)
          }))
      })

      describe("provisioner jobs", () => {
        it.effect("a job that starts a workspace and one that fails: finished +1 each, durations counted", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            const before = yield* scrape()
            const good = yield* createTask(user, template.versionId)
            const bad = yield* createTask(user, template.versionId, { input: "FAIL to start" })
            yield* waitForStatus(user.token, good.id, "initializing")
            yield* waitForStatus(user.token, bad.id, "error")
            const after = yield* scrape()

            const finished = "taskd_provisioner_jobs_finished_total"
            const jobDuration = "taskd_provisioner_job_duration_seconds"
            const succeeded = { transition: "start", result: "succeeded" }
            const failed = { transition: "start", result: "failed" }
            assert.strictEqual(delta(before, after, finished, succeeded), 1)
            assert.strictEqual(delta(before, after, finished, failed), 1)
            assert.strictEqual(delta(before, after, `${jobDuration}_count`, succeeded), 1)
            assert.strictEqual(delta(before, after, `${jobDuration}_count`, failed), 1)
            assert.isAtLeast(delta(before, after, `${jobDuration}_sum`, succeeded), 0)
            assert.strictEqual(after.types.get(finished), "counter")
            assert.strictEqual(after.types.get(jobDuration), "histogram")
          }))
      })

      describe("gauges", () => {
        it.effect("tasks by status match what the API lists", () =>
          Effect.gen(function*() {
            const user = yield* createUser()
            const template = yield* createTemplate()
            yield* createActiveTask(user, template.versionId, record)
            const failing = yield* createTask(user, template.versionId, { input: "FAIL again" })
            yield* waitForStatus(user.token, failing.id, "error")
            const admin = yield* TestServer.clientFor(yield* adminToken)
            // Statuses move while the job runner works: compare until a scrape and the lists around it agree.
            const compared = yield* pollUntil(
              Effect.gen(function*() {
                const listed = yield* admin.tasks.list({ query: {} })
                const exposition = yield* scrape()
                const again = yield* admin.tasks.list({ query: {} })
                const expected = Object.fromEntries(
                  allTaskStatuses.map((status) => [status, listed.tasks.filter((t) => t.status === status).length])
                )
                const stable = JSON.stringify(listed.tasks.map((t) => [t.id, t.status])) ===
                  JSON.stringify(again.tasks.map((t) => [t.id, t.status]))
                const gauges = Object.fromEntries(
                  allTaskStatuses.map((status) => [status, valueOf(exposition, "taskd_tasks", { status })])
                )
                return { stable, expected, gauges, count: listed.count, exposition }
              }).pipe(Effect.orDie),
              ({ expected, gauges, stable }) => stable && JSON.stringify(expected) === JSON.stringify(gauges),
              (last) =>
                `gauges ${JSON.stringify(last?.gauges)} never matched the list ${JSON.stringify(last?.expected)}`
            )
            assert.isAtLeast(compared.gauges["active"]!, 1)
            assert.isAtLeast(compared.gauges["error"]!, 1)
            // Every status is exported, the ones no task has as 0.
            for (const status of allTaskStatuses) assert.isTrue(has(compared.exposition, "taskd_tasks", { status }))
            assert.strictEqual(compared.exposition.types.get("taskd_tasks"), "gauge")
          }))

        it.effect("the database, the process, and the live conversations' gauges are there", () =>
          Effect.gen(function*() {
            yield* scrape()
            const exposition = yield* scrape()
            assert.strictEqual(valueOf(exposition, "taskd_database_up"), 1)
            assert.isAbove(valueOf(exposition, "taskd_database_scrape_duration_seconds"), 0)
            // On Postgres, pg_stat_activity shows taskd's connections, the scrape's own active at least.
            if (backend.name === "postgres") {
              assert.isAtLeast(valueOf(exposition, "taskd_database_connections", { state: "active" }), 1)
            }
            assert.isAbove(valueOf(exposition, "process_cpu_seconds_total"), 0)
            assert.isAbove(valueOf(exposition, "process_resident_memory_bytes"), 10 * 1024 * 1024)
            assert.isAbove(valueOf(exposition, "nodejs_heap_used_bytes"), 0)
            const started = valueOf(exposition, "process_start_time_seconds")
            assert.isTrue(started > Date.now() / 1000 - 3600 && started <= Date.now() / 1000 + 1, String(started))
            for (const name of ["p50", "p99", "max"]) {
              const lag = valueOf(exposition, `nodejs_eventloop_lag_${name}_seconds`)
              assert.isTrue(lag >= 0 && lag < 5, `${name} ${lag}`)
              assert.strictEqual(exposition.types.get(`nodejs_eventloop_lag_${name}_seconds`), "gauge")
            }
            assert.strictEqual(exposition.types.get("process_cpu_seconds_total"), "counter")
            for (const name of ["taskd_event_streams_open", "taskd_recorders_running"]) {
              assert.isTrue(has(exposition, name), name)
              assert.strictEqual(exposition.types.get(name), "gauge")
            }
          }))

        it.effect("without TASKD_METRICS_TOKEN no token is needed, and a session token is not looked at", () =>
          Effect.gen(function*() {
            const response = yield* metricsRequest({ token: "not-a-token" })
            assert.strictEqual(response.status, 200)
          }))
      })
    }
  )

  layer(TestServer.layer(backend).pipe(Layer.provide(noJobWorkers)), { timeout: 120_000, excludeTestServices: true })(
    `Metrics, jobs queued [${backend.name}]`,
    (it) => {
      it.effect("queued jobs and pending tasks are read from the database at each scrape", () =>
        Effect.gen(function*() {
          const user = yield* createUser()
          const template = yield* createTemplate()
          const empty = yield* scrape()
          assert.strictEqual(valueOf(empty, "taskd_provisioner_jobs", { status: "pending" }), 0)
          assert.strictEqual(valueOf(empty, "taskd_tasks", { status: "pending" }), 0)
          yield* createTask(user, template.versionId)
          yield* createTask(user, template.versionId)
          const two = yield* scrape()
          assert.strictEqual(valueOf(two, "taskd_provisioner_jobs", { status: "pending" }), 2)
          assert.strictEqual(valueOf(two, "taskd_provisioner_jobs", { status: "running" }), 0)
          assert.strictEqual(valueOf(two, "taskd_tasks", { status: "pending" }), 2)
          for (const status of allTaskStatuses.filter((s) => s !== "pending")) {
            assert.strictEqual(valueOf(two, "taskd_tasks", { status }), 0, status)
          }
        }))
    }
  )

  const metricsToken = "metrics-token-3b9c0d1e"
  layer(
    TestServer.layer(backend).pipe(Layer.provide(withEnv({ TASKD_METRICS_TOKEN: metricsToken }))),
    { timeout: 120_000, excludeTestServices: true }
  )(`Metrics with TASKD_METRICS_TOKEN [${backend.name}]`, (it) => {
    it.effect("401 with Coder's body without the token or with another; 200 with it", () =>
      Effect.gen(function*() {
        const refusals = [
          {},
          { token: metricsToken },
          { headers: { authorization: "Bearer wrong-token" } },
          { headers: { authorization: `Basic ${metricsToken}` } },
          { headers: { authorization: `Bearer ${metricsToken}x` } }
        ]
        for (const options of refusals) {
          const refused = yield* metricsRequest(options)
          assert.strictEqual(refused.status, 401, JSON.stringify(options))
          assert.strictEqual(typeof refused.json.message, "string")
          assert.deepStrictEqual(Object.keys(refused.json).filter((key) => key !== "detail"), ["message"])
          assert.notInclude(refused.text, metricsToken)
        }
        const exposition = yield* scrape({ headers: { authorization: `Bearer ${metricsToken}` } })
        const lowercase = yield* scrape({ headers: { authorization: `bearer ${metricsToken}` } })
        assert.isAbove(exposition.samples.length, 0)
        assert.isAbove(lowercase.samples.length, 0)
        // The refused scrapes are counted as 4xx of /metrics; the token is in no label.
        assert.isAtLeast(valueOf(exposition, http, { method: "GET", route: "/metrics", status: "4xx" }), 5)
        for (const value of labelValues(lowercase)) assert.notInclude(value, metricsToken)
      }))
  })
}

/**
 * The database away: a scrape still answers, with `taskd_database_up` 0 and no database gauges (an old
 * count would look current), and the process's gauges. The route alone, on a Postgres URL where nothing
 * listens.
 */
const unreachableDatabase = Layer.unwrap(
  Effect.map(
    freePort,
    (port) =>
      HttpRouter.serve(Layer.mergeAll(MetricsRoute.layer, Server.NotFoundRoute), { disableLogger: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest),
        Layer.provide(Database.postgres(Redacted.make(`postgres://taskd@127.0.0.1:${port}/none`), 1))
      )
  )
)

layer(unreachableDatabase, { timeout: 60_000, excludeTestServices: true })("Metrics, database away", (it) => {
  it.effect("200 with taskd_database_up 0, no database gauges, the process's gauges", () =>
    Effect.gen(function*() {
      const exposition = yield* scrape()
      assert.strictEqual(valueOf(exposition, "taskd_database_up"), 0)
      assert.isFalse(exposition.samples.some((sample) => sample.name === "taskd_tasks"))
      assert.isFalse(exposition.samples.some((sample) => sample.name === "taskd_provisioner_jobs"))
      assert.isFalse(has(exposition, "taskd_database_scrape_duration_seconds"))
      assert.isAbove(valueOf(exposition, "process_resident_memory_bytes"), 0)
    }))
})
