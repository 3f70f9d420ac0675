/**
 * taskd's metrics, as Effect `Metric`s: every name, type and label the `/metrics` endpoint exports
 * (./MetricsRoute.ts formats them for Prometheus), and the small recorders the code that counts calls.
 *
 * Labels hold only bounded, non-secret values: a route TEMPLATE (never a raw path, never a query string),
 * a method from a fixed list, a status class, a task or job status, a transition. Tokens, ids and message
 * contents never become a label.
 *
 * The series live in Effect's metric registry (`Metric.MetricRegistry`, one per process unless a host
 * provides its own), so they are counted the same whether the tracer is on or off.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"

// -----------------------------------------------------------------------------------------------------------
// HTTP requests
// -----------------------------------------------------------------------------------------------------------

export const httpRequests = Metric.counter("taskd_http_requests_total", {
  description: "HTTP requests answered, by method, route template and status class."
})

/** Request latency buckets, in seconds. */
const durationBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export const httpRequestDuration = Metric.histogram("taskd_http_request_duration_seconds", {
  description:
    "Time from a request's arrival to its response being written, by method, route template and status class.",
  boundaries: durationBoundaries
})

/** The `route` of a request that no route of taskd's matched (Coder's 404), whatever its path. */
export const unmatchedRoute = "unmatched"

/** The methods a label may name; anything else is `other`, so a client cannot invent label values. */
const methods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

const statusClass = (status: number) =>
  status >= 500 ? "5xx" : status >= 400 ? "4xx" : status >= 300 ? "3xx" : status >= 200 ? "2xx" : "1xx"

const noUpdate = () => {}

/**
 * The request counter and latency histogram of one label set, kept as plain numbers and read by the
 * registry when it is scraped (`Metric.registerUnsafe`): an update through `Metric.update` costs ~1.5 µs
 * per series (the attributes go into a new context, the series is looked up by its key), this a few ns.
 */
class RequestSeries {
  count = 0
  sum = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE
  /** Observations per bucket (not cumulative); the last one is above every boundary. */
  readonly perBucket = new Float64Array(durationBoundaries.length + 1)

  constructor(context: Context.Context<never>, attributes: Metric.Metric.AttributeSet) {
    Metric.registerUnsafe(Metric.withAttributes(httpRequests, attributes), context, {
      get: () => ({ count: this.count, incremental: true }),
      update: noUpdate,
      modify: noUpdate
    })
    Metric.registerUnsafe(Metric.withAttributes(httpRequestDuration, attributes), context, {
      get: () => this.histogram(),
      update: noUpdate,
      modify: noUpdate
    })
  }

  observe(seconds: number) {
    let bucket = 0
    while (bucket < durationBoundaries.length && seconds > durationBoundaries[bucket]!) bucket++
    this.perBucket[bucket]!++
    this.count++
    this.sum += seconds
    if (seconds < this.min) this.min = seconds
    if (seconds > this.max) this.max = seconds
  }

  histogram(): Metric.HistogramState {
    let cumulative = 0
    const buckets = durationBoundaries.map((boundary, i): [number, number] => [
      boundary,
      cumulative += this.perBucket[i]!
    ])
    return { buckets, count: this.count, min: this.min, max: this.max, sum: this.sum }
  }
}

/** The series by label set, made at a label set's first request. Bounded: methods x route templates x classes. */
const requestSeries = new Map<string, RequestSeries>()

/**
 * Records one answered request. `route` is the matched route's template (`/api/v2/tasks/:user/:task`), or
 * `unmatchedRoute`. Synchronous, for the server's request middleware (./MetricsRoute.ts); `context` names
 * the registry a new label set is registered in.
 */
export const recordRequestUnsafe = (
  context: Context.Context<never>,
  method: string,
  route: string,
  status: number,
  seconds: number
): void => {
  const methodLabel = methods.has(method) ? method : "other"
  const status_ = statusClass(status)
  const key = `${methodLabel} ${status_} ${route}`
  let series = requestSeries.get(key)
  if (series === undefined) {
    series = new RequestSeries(context, { method: methodLabel, route, status: status_ })
    requestSeries.set(key, series)
  }
  series.observe(seconds)
}

// -----------------------------------------------------------------------------------------------------------
// Snapshot uploads
// -----------------------------------------------------------------------------------------------------------

export const snapshotUploads = Metric.counter("taskd_snapshot_uploads_total", {
  description: "Log snapshots stored (uploads refused show as 4xx of their route in taskd_http_requests_total)."
})

export const snapshotUploadBytes = Metric.histogram("taskd_snapshot_upload_bytes", {
  description: "Size of the JSON body of each stored log snapshot upload, in bytes (the cap is 64 KiB).",
  boundaries: [1024, 4096, 8192, 16384, 32768, 49152, 65536]
})

/** A stored snapshot upload of `bytes` bytes. */
export const snapshotStored = (bytes: number): Effect.Effect<void> =>
  Effect.andThen(Metric.update(snapshotUploads, 1), Metric.update(snapshotUploadBytes, bytes))

// -----------------------------------------------------------------------------------------------------------
// Tasks and provisioner jobs
// -----------------------------------------------------------------------------------------------------------

export const tasks = Metric.gauge("taskd_tasks", {
  description: "Tasks (not deleted) by status, read from the database at scrape time (all instances sharing it)."
})

export const provisionerJobs = Metric.gauge("taskd_provisioner_jobs", {
  description:
    "Provisioner jobs queued (status pending) and running, read from the database at scrape time (all instances sharing it)."
})

export const provisionerJobsFinished = Metric.counter("taskd_provisioner_jobs_finished_total", {
  description:
    "Provisioner jobs this instance ran to an end, by transition and result (succeeded, failed, or released back to the queue at shutdown)."
})

export const provisionerJobDuration = Metric.histogram("taskd_provisioner_job_duration_seconds", {
  description:
    "How long this instance took to run a provisioner job (start or stop the workspace), by transition and result.",
  boundaries: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
})

/**
 * Times a provisioner job and counts how it ended: a failure is `failed`; success is `succeeded`, or
 * `released` when the job answers false (it went back to the queue, see JobRunner). An interrupted job
 * (the instance stopped under it) is not counted: another instance takes it over and counts it.
 */
export const observeJob =
  (transition: string) => <E, R>(job: Effect.Effect<boolean, E, R>): Effect.Effect<boolean, E, R> =>
    Effect.suspend(() => {
      const started = performance.now()
      return Effect.onExit(job, (exit) => {
        if (Exit.hasInterrupts(exit)) return Effect.void
        const result = Exit.isFailure(exit) ? "failed" : exit.value ? "succeeded" : "released"
        const attributes = { transition, result }
        return Effect.andThen(
          Metric.update(Metric.withAttributes(provisionerJobsFinished, attributes), 1),
          Metric.update(Metric.withAttributes(provisionerJobDuration, attributes), (performance.now() - started) / 1000)
        )
      })
    })

// -----------------------------------------------------------------------------------------------------------
// The database
// -----------------------------------------------------------------------------------------------------------

export const databaseUp = Metric.gauge("taskd_database_up", {
  description:
    "1 when the database answered the scrape's reads, 0 when it did not (then the database gauges are absent)."
})

export const databaseScrapeDuration = Metric.gauge("taskd_database_scrape_duration_seconds", {
  description:
    "How long the scrape's database reads took, including the wait for a pooled connection: high when the pool is saturated."
})

export const databaseConnections = Metric.gauge("taskd_database_connections", {
  description:
    "Connections to this database whose application_name is taskd (all instances sharing it, the scrape's own included), by state (pg_stat_activity; none on the embedded database)."
})

// -----------------------------------------------------------------------------------------------------------
// Live conversations (updated by src/Conversations)
// -----------------------------------------------------------------------------------------------------------

export const eventStreamsOpen = Metric.gauge("taskd_event_streams_open", {
  description: "Event streams (/events) this instance is serving right now."
})

export const recordersRunning = Metric.gauge("taskd_recorders_running", {
  description: "Conversation recorders (following an agent's /events) this instance is running right now."
})

/** Adds one to `gauge` for the life of the scope (an open stream, a running recorder). */
export const holdOne = (gauge: Metric.Gauge<number>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(Metric.modify(gauge, 1), () => Metric.modify(gauge, -1))
