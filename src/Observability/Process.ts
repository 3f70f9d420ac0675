/**
 * The process's own gauges (CPU, memory, event-loop lag), sampled when `/metrics` is scraped: reading them
 * costs a few system calls per scrape and nothing per request.
 *
 * Event-loop lag comes from Node's `monitorEventLoopDelay` (a timer whose lateness is recorded in a
 * histogram); its percentiles cover the time since the previous scrape, then the histogram starts over,
 * as prom-client does. With two scrapers, each sees the lag since the other's scrape.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { monitorEventLoopDelay } from "node:perf_hooks"

export const cpuSeconds = Metric.counter("process_cpu_seconds_total", {
  description: "CPU time the process used (user and system), in seconds."
})

export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident set size of the process, in bytes."
})

export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", {
  description: "V8 heap in use, in bytes."
})

export const startTime = Metric.gauge("process_start_time_seconds", {
  description: "When the process started, in seconds since the Unix epoch."
})

export const eventLoopLagP50 = Metric.gauge("nodejs_eventloop_lag_p50_seconds", {
  description: "Median event-loop lag since the previous scrape, in seconds."
})

export const eventLoopLagP99 = Metric.gauge("nodejs_eventloop_lag_p99_seconds", {
  description: "99th percentile of the event-loop lag since the previous scrape, in seconds."
})

export const eventLoopLagMax = Metric.gauge("nodejs_eventloop_lag_max_seconds", {
  description: "Largest event-loop lag since the previous scrape, in seconds."
})

/** How often the event-loop monitor's timer fires, in milliseconds (its own cost is one timer). */
const resolutionMs = 20

const microsToSeconds = (micros: number) => micros / 1e6

/**
 * Node's monitor records the whole interval between its timer's runs (an idle loop shows `resolutionMs`),
 * so the lag is what exceeds the resolution; Deno's records the lateness itself.
 */
const recordsInterval = !("Deno" in globalThis)

const lagSeconds = (nanos: number) => Math.max(0, nanos / 1e9 - (recordsInterval ? resolutionMs / 1000 : 0))

/** Samples the process gauges; the monitor runs for the life of the layer. */
export class ProcessMetrics extends Context.Service<ProcessMetrics, {
  /** Sets the process gauges in the registry of `context`. */
  readonly sampleUnsafe: (context: Context.Context<never>) => void
}>()("taskd/ProcessMetrics") {
  static readonly layer: Layer.Layer<ProcessMetrics> = Layer.effect(
    ProcessMetrics,
    Effect.gen(function*() {
      const delay = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const histogram = monitorEventLoopDelay({ resolution: resolutionMs })
          histogram.enable()
          return histogram
        }),
        (histogram) => Effect.sync(() => histogram.disable())
      )
      // The CPU counter grows by what was used since the previous sample (Effect's counters add).
      let cpuSoFar = 0
      const sampleUnsafe = (context: Context.Context<never>) => {
        const cpu = process.cpuUsage()
        const cpuNow = microsToSeconds(cpu.user + cpu.system)
        cpuSeconds.updateUnsafe(cpuNow - cpuSoFar, context)
        cpuSoFar = cpuNow
        const memory = process.memoryUsage()
        residentMemory.updateUnsafe(memory.rss, context)
        heapUsed.updateUnsafe(memory.heapUsed, context)
        startTime.updateUnsafe(Math.round((Date.now() - process.uptime() * 1000) / 1000), context)
        const measured = delay.count > 0
        eventLoopLagP50.updateUnsafe(measured ? lagSeconds(delay.percentile(50)) : 0, context)
        eventLoopLagP99.updateUnsafe(measured ? lagSeconds(delay.percentile(99)) : 0, context)
        eventLoopLagMax.updateUnsafe(measured ? lagSeconds(delay.max) : 0, context)
        delay.reset()
      }
      return ProcessMetrics.of({ sampleUnsafe })
    })
  )
}
