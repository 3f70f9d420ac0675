/**
 * `GET /metrics` (Prometheus's text format) and the server middleware that counts requests.
 *
 * `/metrics` is an operational route like the docs page, not part of Coder's API: a plain router route,
 * outside the HttpApi and its OpenAPI document. It answers without a token unless TASKD_METRICS_TOKEN is
 * set; then only `Authorization: Bearer <that token>` gets the metrics, anything else Coder's 401 body.
 * At each scrape it reads the database's gauges (tasks by status, jobs queued and running, taskd's
 * connections) and samples the process's, then formats the whole registry with Effect's own exporter
 * (`effect/observability/PrometheusMetrics`).
 *
 * `recordRequests` is server middleware (src/Server.ts): it times every request and records it under its
 * route TEMPLATE, read from the router's RouteContext once the route has run.
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { hashSecret, sameHash } from "../Auth/Tokens.ts"
import { toBody, Unauthorized } from "../Domain/CoderError.ts"
import { allTaskStatuses } from "../Domain/Task.ts"
import * as Metrics from "./Metrics.ts"
import { ProcessMetrics } from "./Process.ts"

// -----------------------------------------------------------------------------------------------------------
// Counting requests
// -----------------------------------------------------------------------------------------------------------

/** The template of the route that answered, or `unmatched` for Coder's 404 of unknown routes. */
const routeTemplate = (context: Context.Context<never>): string => {
  const matched = Context.getOrUndefined(context, HttpRouter.RouteContext)
  if (matched === undefined) return Metrics.unmatchedRoute
  const { method, path } = matched.route
  return method === "*" && path === "/*" ? Metrics.unmatchedRoute : path
}

/**
 * Server middleware: records every request's method, route template, status class and duration. The
 * router puts the matched route in the fiber's context and the request's frame restores the context only
 * after this middleware is done, so the template is read here, after the response; the raw path and the
 * query string are never looked at. A failure is counted with the status the server answers it with.
 */
export const recordRequests = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.withFiber((fiber) => {
    const started = performance.now()
    const record = (status: number) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const seconds = (performance.now() - started) / 1000
      Metrics.recordRequestUnsafe(fiber.context, request.method, routeTemplate(fiber.context), status, seconds)
    }
    // The primitive, interruptible form: no uninterruptible region, and nothing to run after a success.
    return Effect.onExitPrimitive(app, (exit) => {
      if (Exit.isSuccess(exit)) {
        record(exit.value.status)
        return undefined
      }
      return Effect.map(HttpServerError.causeResponse(exit.cause), ([response]) => record(response.status))
    }, true)
  })

// -----------------------------------------------------------------------------------------------------------
// The database's gauges
// -----------------------------------------------------------------------------------------------------------

/** How long a scrape waits for the database before reporting it down. */
const databaseTimeout = "3 seconds"

const CountRow = Schema.Struct({ kind: Schema.String, key: Schema.String, count: Schema.Number })

/**
 * The database's gauges in one statement (one pooled connection, one snapshot): tasks by the status the
 * API shows (`task_rows`), jobs queued and running (the partial index on pending/running jobs), and taskd's
 * connections to this database by state (none on the embedded database, whose pg_stat_activity is empty).
 */
const readCounts = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.Void,
    Result: CountRow,
    execute: () =>
      sql`SELECT 'task' AS kind, status::text AS key, count(*)::int AS count FROM task_rows GROUP BY status
          UNION ALL
          SELECT 'job', job_status::text, count(*)::int FROM provisioner_jobs
          WHERE job_status IN ('pending', 'running') GROUP BY job_status
          UNION ALL
          SELECT 'connection', coalesce(state, 'unknown'), count(*)::int FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'taskd'
          GROUP BY coalesce(state, 'unknown')`
  })(undefined)

const jobStatuses = ["pending", "running"] as const

/**
 * Reads the database's gauges; answers how to set them, or, when the database does not answer in time, how
 * to set `taskd_database_up` to 0 and remove them (an old count would look current).
 */
const makeDatabaseReader = (sql: SqlClient.SqlClient) => {
  const taskSeries = new Map(
    allTaskStatuses.map((status) => [status, Metric.withAttributes(Metrics.tasks, { status })])
  )
  const jobSeries = new Map(
    jobStatuses.map((status) => [status, Metric.withAttributes(Metrics.provisionerJobs, { status })])
  )
  // Connection states are Postgres's few fixed names; a state seen once is reported (as 0) from then on.
  const connectionSeries = new Map<string, Metric.Metric<number, Metric.GaugeState<number>>>()
  const connectionsIn = (state: string) => {
    let series = connectionSeries.get(state)
    if (series === undefined) {
      series = Metric.withAttributes(Metrics.databaseConnections, { state })
      connectionSeries.set(state, series)
    }
    return series
  }

  const down = (context: Context.Context<never>) => {
    for (const series of [...taskSeries.values(), ...jobSeries.values(), ...connectionSeries.values()]) {
      Metric.removeUnsafe(series, context)
    }
    Metric.removeUnsafe(Metrics.databaseScrapeDuration, context)
    Metrics.databaseUp.updateUnsafe(0, context)
  }

  const up = (rows: ReadonlyArray<typeof CountRow.Type>, seconds: number) => (context: Context.Context<never>) => {
    const counts = new Map<string, number>()
    for (const row of rows) {
      counts.set(`${row.kind} ${row.key}`, row.count)
      if (row.kind === "connection") connectionsIn(row.key)
    }
    for (const [status, series] of taskSeries) series.updateUnsafe(counts.get(`task ${status}`) ?? 0, context)
    for (const [status, series] of jobSeries) series.updateUnsafe(counts.get(`job ${status}`) ?? 0, context)
    for (const [state, series] of connectionSeries) {
      series.updateUnsafe(counts.get(`connection ${state}`) ?? 0, context)
    }
    Metrics.databaseScrapeDuration.updateUnsafe(seconds, context)
    Metrics.databaseUp.updateUnsafe(1, context)
  }

  return Effect.suspend(() => {
    const started = performance.now()
    return readCounts(sql).pipe(
      Effect.timeout(databaseTimeout),
      Effect.matchCauseEffect({
        onFailure: (cause) =>
          Effect.as(Effect.logWarning("metrics: the database did not answer the scrape's reads", cause), down),
        onSuccess: (rows) => Effect.succeed(up(rows, (performance.now() - started) / 1000))
      })
    )
  })
}

// -----------------------------------------------------------------------------------------------------------
// The route
// -----------------------------------------------------------------------------------------------------------

export const MetricsConfig = Config.all({
  /** When set (and not empty), `/metrics` needs `Authorization: Bearer <token>`. */
  token: Config.option(Config.Redacted("TASKD_METRICS_TOKEN"))
})

/** Where the metrics are served. */
export const metricsPath = "/metrics"

/** Prometheus's text exposition format, version 0.0.4. */
const contentType = "text/plain; version=0.0.4; charset=utf-8"

const unauthorized = HttpServerResponse.jsonUnsafe(
  toBody(
    new Unauthorized({
      message: "The metrics need a token.",
      detail: "Send the token set in TASKD_METRICS_TOKEN as \"Authorization: Bearer <token>\"."
    })
  ),
  { status: 401, headers: { "www-authenticate": "Bearer" } }
)

const bearerToken = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const header = request.headers["authorization"]
  if (header === undefined) return undefined
  const match = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  return match === null ? undefined : match[1]
}

/**
 * `GET /metrics` on an HttpRouter; needs the SqlClient of taskd's database. Reads TASKD_METRICS_TOKEN when
 * it is built.
 */
export const layer: Layer.Layer<never, Config.ConfigError, HttpRouter.HttpRouter | SqlClient.SqlClient> = Layer
  .effectDiscard(Effect.gen(function*() {
    const router = yield* HttpRouter.HttpRouter
    const sql = yield* SqlClient.SqlClient
    const processMetrics = yield* ProcessMetrics
    const { token } = yield* MetricsConfig
    const expected = token._tag === "Some" && Redacted.value(token.value) !== ""
      ? hashSecret(Redacted.value(token.value))
      : undefined
    const readDatabase = makeDatabaseReader(sql)
    // Series that exist before anything updates them, so a scrape shows them at 0.
    yield* Metric.modify(Metrics.eventStreamsOpen, 0)
    yield* Metric.modify(Metrics.recordersRunning, 0)

    const scrape = Effect.fn("Metrics.scrape")(function*(request: HttpServerRequest.HttpServerRequest) {
      if (expected !== undefined) {
        const sent = bearerToken(request)
        if (sent === undefined || !sameHash(hashSecret(sent), expected)) return unauthorized
      }
      const setDatabaseGauges = yield* readDatabase
      // Set, sampled and formatted in one synchronous step: a concurrent scrape of another taskd in this
      // process (they share the registry) cannot slip its database's counts in between.
      return yield* Effect.withFiber((fiber) => {
        setDatabaseGauges(fiber.context)
        processMetrics.sampleUnsafe(fiber.context)
        return Effect.succeed(HttpServerResponse.text(PrometheusMetrics.formatUnsafe(fiber.context), { contentType }))
      })
    })

    yield* router.add("GET", metricsPath, scrape)
  })).pipe(Layer.provide(ProcessMetrics.layer))
