/**
 * Traces over OTLP/HTTP, configured by the standard OpenTelemetry variables. `taskd serve` exports them only
 * when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without either it runs
 * with the tracer disabled, as it always did (src/Cli/Serve.ts).
 *
 * The spans are Effect's own: the HTTP server's span per request (a child of an incoming `traceparent`),
 * the handlers' `Effect.fn` spans, a span per SQL statement (its text, never its parameters), the job
 * runner's span per provisioner job, and the agentapi client's calls. Export is Effect's OTLP tracer
 * (`effect/observability/OtlpTracer`); this module reads its settings and keeps secrets out of the spans.
 *
 * Variables: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (`http/protobuf`,
 * the default, or `http/json`), OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION,
 * OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
 * OTEL_SERVICE_NAME (default `taskd`), OTEL_RESOURCE_ATTRIBUTES; OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none turn export off.
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as OtlpExporter from "effect/observability/OtlpExporter"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"

/** Where and how spans are exported. */
export interface TracingSettings {
  /** The traces endpoint, e.g. `http://collector:4318/v1/traces`. */
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly headers: Readonly<Record<string, string>> | undefined
  readonly compression: "gzip" | "none"
  readonly exportInterval: Duration.Duration | undefined
  readonly maxBatchSize: number | undefined
  readonly shutdownTimeout: Duration.Duration | undefined
  /** `taskd` unless OTEL_SERVICE_NAME or `service.name` in OTEL_RESOURCE_ATTRIBUTES names the service. */
  readonly serviceName: string | undefined
}

/** A variable of one signal (`OTEL_EXPORTER_OTLP_TRACES_<name>`), else the general one. */
const either = <A>(make: (name: string) => Config.Config<A>, name: string) =>
  Config.option(
    make(`OTEL_EXPORTER_OTLP_TRACES_${name}`).pipe(
      Config.orElse(() => make(`OTEL_EXPORTER_OTLP_${name}`))
    )
  )

/** `key=value,key2=value2`, percent-decoded, as the OpenTelemetry specification writes headers. */
const keyValues = (name: string) => Config.Record(Schema.String, Schema.StringFromUriComponent, name)

/**
 * The traces endpoint: the signal's own variable as given, or the general one with `/v1/traces` appended
 * (the specification's rule).
 */
const endpoint = Config.option(Config.URL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")).pipe(
  Config.flatMap(Option.match({
    onSome: (url) => Config.succeed(Option.some(url.toString())),
    onNone: () =>
      Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(Config.map(Option.map((url) => {
        url.pathname = `${url.pathname.replace(/\/$/, "")}/v1/traces`
        return url.toString()
      })))
  }))
)

const enabled = Config.all({
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  exporters: Config.option(Config.String("OTEL_TRACES_EXPORTER"))
}).pipe(Config.map(({ disabled, exporters }) =>
  !disabled &&
  Option.match(exporters, {
    onNone: () => true,
    onSome: (list) => list.split(",").some((name) => name.trim().toLowerCase() === "otlp")
  })
))

/** The export settings, or none when no endpoint is set (or export is turned off): no tracing at all. */
export const TracingConfig: Config.Config<Option.Option<TracingSettings>> = Config.all({ enabled, endpoint }).pipe(
  Config.flatMap(({ enabled, endpoint }) =>
    !enabled || Option.isNone(endpoint)
      ? Config.succeed(Option.none())
      : Config.all({
        protocol: either((name) => Config.Literals(["http/protobuf", "http/json"], name), "PROTOCOL"),
        headers: either(keyValues, "HEADERS"),
        compression: either((name) => Config.Literals(["gzip", "none"], name), "COMPRESSION"),
        timeout: either((name) => Config.Int(name), "TIMEOUT"),
        exportTimeout: Config.option(Config.Int("OTEL_BSP_EXPORT_TIMEOUT")),
        scheduleDelay: Config.option(Config.Int("OTEL_BSP_SCHEDULE_DELAY")),
        maxBatchSize: Config.option(Config.Int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")),
        serviceName: Config.option(Config.String("OTEL_SERVICE_NAME")),
        resource: Config.option(keyValues("OTEL_RESOURCE_ATTRIBUTES"))
      }).pipe(Config.map((env): Option.Option<TracingSettings> => {
        const named = Option.isSome(env.serviceName) ||
          Option.exists(env.resource, (attributes) => attributes["service.name"] !== undefined)
        return Option.some({
          url: endpoint.value,
          // OTLP/HTTP only; the specification's default is protobuf.
          protocol: Option.getOrElse(env.protocol, () => "http/protobuf" as const),
          headers: Option.getOrUndefined(env.headers),
          compression: Option.getOrElse(env.compression, () => "none" as const),
          exportInterval: Option.getOrUndefined(Option.map(env.scheduleDelay, Duration.millis)),
          maxBatchSize: Option.getOrUndefined(env.maxBatchSize),
          shutdownTimeout: Option.getOrUndefined(
            Option.map(Option.firstSomeOf([env.timeout, env.exportTimeout]), Duration.millis)
          ),
          serviceName: named ? undefined : "taskd"
        })
      }))
  )
)

// -----------------------------------------------------------------------------------------------------------
// Keeping secrets out of spans
// -----------------------------------------------------------------------------------------------------------

/** A URL without its query and fragment: the query may carry a token (`coder_session_token`) or a search. */
const withoutQuery = (url: string) => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/**
 * A span as Effect made it, minus what could carry a secret: Effect's HTTP spans record the full URL and the
 * query string (`url.full`, `url.query`), redacting only the parameters it knows of (signatures), and
 * taskd's clients send their token as `coder_session_token` in the query. The URL keeps its path (route
 * and status are attributes of their own). Headers are not recorded at all (Effect records a header only
 * when `TracerHeaderFilter` asks for it, which taskd does not), so tokens in `Coder-Session-Token`,
 * `Authorization` and cookies stay out, as do bodies (messages) and SQL parameters.
 */
class RedactedSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly span: Tracer.Span
  constructor(span: Tracer.Span) {
    this.span = span
  }
  get name() {
    return this.span.name
  }
  get spanId() {
    return this.span.spanId
  }
  get traceId() {
    return this.span.traceId
  }
  get parent() {
    return this.span.parent
  }
  get annotations() {
    return this.span.annotations
  }
  get status() {
    return this.span.status
  }
  get attributes() {
    return this.span.attributes
  }
  get links() {
    return this.span.links
  }
  get sampled() {
    return this.span.sampled
  }
  get kind() {
    return this.span.kind
  }
  end(endTime: bigint, exit: Parameters<Tracer.Span["end"]>[1]) {
    this.span.end(endTime, exit)
  }
  attribute(key: string, value: unknown) {
    if (key === "url.query") return
    this.span.attribute(key, key === "url.full" && typeof value === "string" ? withoutQuery(value) : value)
  }
  event(name: string, startTime: bigint, attributes?: Record<string, unknown>) {
    this.span.event(name, startTime, attributes)
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>) {
    this.span.addLinks(links)
  }
}

/**
 * `tracer`, with every span it makes redacted, and without traces that would be a lone SQL statement or
 * outgoing call: a client span with no parent is a background loop's poll (the change feed's, say), not
 * an operation of its own, and a trace per poll would bury the requests and jobs. Such a span is made
 * unsampled, so it and what it starts are not exported.
 */
export const redacting = (tracer: Tracer.Tracer): Tracer.Tracer =>
  Tracer.make({
    span: (options) =>
      new RedactedSpan(
        tracer.span(
          options.kind === "client" && Option.isNone(options.parent) ? { ...options, sampled: false } : options
        )
      ),
    ...(tracer.context === undefined ? {} : { context: tracer.context })
  })

// -----------------------------------------------------------------------------------------------------------
// The exporter
// -----------------------------------------------------------------------------------------------------------

/**
 * The tracer that exports to `settings.url`: Effect's OTLP tracer (batches, retries, a final flush when the
 * layer is released), its spans redacted. Posts with fetch; its own requests are not traced.
 */
export const layer = (settings: TracingSettings): Layer.Layer<never> =>
  Layer.effect(
    Tracer.Tracer,
    Effect.map(
      OtlpTracer.make({
        url: settings.url,
        resource: { serviceName: settings.serviceName },
        headers: settings.headers,
        compression: settings.compression,
        exportInterval: settings.exportInterval,
        maxBatchSize: settings.maxBatchSize,
        shutdownTimeout: settings.shutdownTimeout
      }),
      redacting
    )
  ).pipe(
    Layer.provide([
      OtlpExporter.layerFlusher,
      settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf,
      FetchHttpClient.layer
    ])
  )
