/**
 * Traces (issue 14 §2): `taskd serve` as a child process with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a fake
 * OTLP collector in this file (OTLP/HTTP JSON). After real requests, with the token in a header, a cookie
 * and the query string, a task whose workspace is the demo agent and a message sent to it, the collector
 * has the spans of the HTTP requests (route, status), their SQL statements, the provisioner job and the
 * agentapi calls; a `traceparent` sent in is the request span's parent; and no token, cookie, query string,
 * prompt or message is anywhere in what was exported. Also the settings read from the OTEL_* variables.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TracingConfig } from "../src/Observability/Tracing.ts"
import * as ChildServer from "./support/ChildServer.ts"
import { type FakeServer, fakeServer, respond } from "./support/FakeHttp.ts"
import { send, sendJson } from "./support/Http.ts"
import { sleepLive } from "./support/Net.ts"

const token = ChildServer.bootstrapToken
/** The secret half of the token (`<id>-<secret>`), which must not appear on its own either. */
const tokenSecret = token.slice(token.indexOf("-") + 1)
const prompt = "Quietly rename the Zanzibar ledger"
const message = "Also hide the Kilimanjaro invoices"

/** An exported span, as OTLP/JSON writes it. */
interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

const SpanKind = { internal: 1, server: 2, client: 3, consumer: 5 } as const

const attribute = (span: Span, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value
  return value === undefined ? undefined : Object.values(value)[0]
}

/** Every span the collector received so far. */
const spansOf = (collector: FakeServer): ReadonlyArray<Span> =>
  collector.requests.flatMap((request) =>
    (JSON.parse(request.body.toString("utf8")) as {
      resourceSpans: ReadonlyArray<{ scopeSpans: ReadonlyArray<{ spans: ReadonlyArray<Span> }> }>
    }).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
  )

/** Polls (real time, at most 20 s) until `find` finds something among the spans received. */
const waitForSpan = <A>(collector: FakeServer, what: string, find: (spans: ReadonlyArray<Span>) => A | undefined) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const found = find(spansOf(collector))
      if (found !== undefined) return found
      yield* sleepLive(100)
    }
    return yield* Effect.die(new Error(`no ${what} among ${spansOf(collector).map((s) => s.name).join(", ")}`))
  })

/** The server span of the request to `route` answered `status`. */
const serverSpan = (route: string, status: number) => (spans: ReadonlyArray<Span>) =>
  spans.find((span) =>
    span.kind === SpanKind.server && attribute(span, "http.route") === route &&
    attribute(span, "http.response.status_code") === status
  )

/** Retries a request (real time, at most 30 s) until it is answered `status`. */
const until = (status: number, request: () => Promise<{ status: number; text: string }>) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const response = await request()
      if (response.status === status || Date.now() > deadline) return response
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })

describe("traces exported to an OTLP collector", () => {
  it.live(
    "requests, SQL, the provisioner job and agentapi calls arrive as spans, a traceparent is the parent, no secret is exported",
    () =>
      Effect.gen(function*() {
        const collector = yield* fakeServer(respond(200, {}))
        const taskd = yield* ChildServer.start({
          TASKD_DATA_DIR: "memory://",
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=k%3D1",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
          OTEL_BSP_SCHEDULE_DELAY: "100"
        })
        const base = taskd.url

        // Token in the Coder-Session-Token header, and a traceparent from a caller that traces.
        const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
        const callerSpan = "00f067aa0ba902b7"
        const me = yield* Effect.promise(() =>
          send(base, "GET", "/api/v2/users/me", {
            token,
            headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` }
          })
        )
        assert.strictEqual(me.status, 200, me.text)

        const template = yield* Effect.promise(() =>
          sendJson(base, "POST", "/api/v2/organizations/default/templates", token, {
            name: "demo",
            agent_command: "node scripts/demo-agent.ts"
          })
        )
        assert.strictEqual(template.status, 201, template.text)

        // Token in a cookie; the prompt is a message.
        const created = yield* Effect.promise(() =>
          send(base, "POST", "/api/v2/tasks/me", {
            headers: { "content-type": "application/json", cookie: `coder_session_token=${token}` },
            body: JSON.stringify({ template_version_id: template.json.active_version_id, input: prompt })
          })
        )
        assert.strictEqual(created.status, 201, created.text)
        const taskId: string = created.json.id

        // Token in the query string, with a search; the message goes to the agent once its agentapi answers.
        const listed = yield* Effect.promise(() =>
          send(base, "GET", `/api/v2/tasks?q=${encodeURIComponent("owner:me")}&coder_session_token=${token}`)
        )
        assert.strictEqual(listed.status, 200, listed.text)
        const sent = yield* until(204, () =>
          send(base, "POST", `/api/v2/tasks/me/${taskId}/send?coder_session_token=${token}`, {
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ input: message })
          }))
        assert.strictEqual(sent.status, 204, sent.text)

        // The request spans: route and status, SQL statements beneath them.
        const meSpan = yield* waitForSpan(collector, "GET /api/v2/users/me", serverSpan("/api/v2/users/me", 200))
        assert.strictEqual(meSpan.traceId, callerTrace)
        assert.strictEqual(meSpan.parentSpanId, callerSpan)
        assert.strictEqual(attribute(meSpan, "http.request.method"), "GET")
        const sql = yield* waitForSpan(
          collector,
          "SQL statement of GET /api/v2/users/me",
          (spans) =>
            spans.find((span) =>
              span.traceId === callerTrace && span.kind === SpanKind.client &&
              typeof attribute(span, "db.query.text") === "string"
            )
        )
        // The statement's text with its placeholders; its parameters (here the API key's id) are not recorded.
        assert.match(attribute(sql, "db.query.text") as string, /\busers\b[\s\S]*\$1/)
        assert.strictEqual(attribute(sql, "db.system.name"), "postgresql")

        yield* waitForSpan(collector, "POST /api/v2/tasks/me", serverSpan("/api/v2/tasks/:user", 201))
        const listSpan = yield* waitForSpan(collector, "GET /api/v2/tasks", serverSpan("/api/v2/tasks", 200))
        assert.strictEqual(attribute(listSpan, "url.full"), `${base}/api/v2/tasks`)
        assert.isUndefined(attribute(listSpan, "url.query"))

        // The provisioner job that started the workspace.
        const job = yield* waitForSpan(collector, "provisioner job", (spans) =>
          spans.find((span) =>
            span.name === "JobRunner.run" && attribute(span, "taskd.task.id") === taskId &&
            attribute(span, "taskd.job.transition") === "start"
          ))
        assert.strictEqual(job.kind, SpanKind.consumer)
        assert.isUndefined(job.parentSpanId)

        // The send and its agentapi call, in one trace.
        const sendSpan = yield* waitForSpan(
          collector,
          "POST .../send answered 204",
          serverSpan("/api/v2/tasks/:user/:task/send", 204)
        )
        const agentApi = yield* waitForSpan(collector, "agentapi call", (spans) =>
          spans.find((span) =>
            span.traceId === sendSpan.traceId && span.name === "AgentApiClient.sendMessage"
          ))
        assert.match(String(attribute(agentApi, "agentapi.url")), /^http:\/\/127\.0\.0\.1:\d+$/)

        // Traces start at requests and jobs: a background loop's lone SQL poll is not exported.
        for (const span of spansOf(collector)) {
          if (span.kind === SpanKind.client) {
            assert.isDefined(span.parentSpanId, JSON.stringify(span))
          }
        }

        // Resource and exporter settings from the OTEL_* variables.
        const first = collector.requests[0]!
        assert.strictEqual(first.path, "/v1/traces")
        assert.strictEqual(first.headers["x-collector-key"], "k=1")
        assert.match(String(first.headers["content-type"]), /application\/json/)
        const resource = JSON.parse(first.body.toString("utf8")).resourceSpans[0].resource.attributes
        const resourceValue = (key: string) =>
          resource.find((a: { key: string }) =>
            a.key === key
          )?.value.stringValue as string | undefined
        assert.strictEqual(resourceValue("service.name"), "taskd")
        assert.strictEqual(resourceValue("deployment.environment"), "test")

        // Nothing secret in anything exported: no token (whole or its secret), cookie, query, prompt, message.
        const exported = collector.requests.map((request) =>
          request.body.toString("utf8")
        ).join("\n")
        const keyId = token.slice(0, token.indexOf("-"))
        for (
          const secret of [token, tokenSecret, keyId, "coder_session_token", prompt, message, "owner:me", "owner%3Ame"]
        ) {
          assert.notInclude(exported, secret)
        }
        for (const span of spansOf(collector)) {
          const url = attribute(span, "url.full")
          if (url !== undefined) {
            assert.notInclude(String(url), "?", span.name)
          }
          assert.isUndefined(attribute(span, "url.query"), span.name)
        }
      }),
    120_000
  )
})

describe("trace export settings (OTEL_* variables)", () => {
  const settings = (env: Record<string, string>) =>
    TracingConfig.parse(ConfigProvider.fromEnv({ env })).pipe(Effect.map(Option.getOrUndefined))

  it.effect("none without an endpoint, or with export turned off", () =>
    Effect.gen(function*() {
      assert.isUndefined(yield* settings({}))
      assert.isUndefined(yield* settings({ OTEL_SERVICE_NAME: "x", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }))
      assert.isUndefined(
        yield* settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" })
      )
      assert.isUndefined(
        yield* settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" })
      )
    }))

  it.effect("the general endpoint gets /v1/traces; the traces endpoint is used as given and wins", () =>
    Effect.gen(function*() {
      const general = yield* settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })
      assert.strictEqual(general?.url, "http://collector:4318/v1/traces")
      assert.strictEqual(general?.protocol, "http/protobuf")
      assert.strictEqual(general?.serviceName, "taskd")
      const prefixed = yield* settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example.com/prefix/" })
      assert.strictEqual(prefixed?.url, "https://otlp.example.com/prefix/v1/traces")
      const traces = yield* settings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://jaeger:4318/custom/traces"
      })
      assert.strictEqual(traces?.url, "http://jaeger:4318/custom/traces")
      assert.isDefined(yield* settings({ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }))
    }))

  it.effect("protocol, headers, compression, batching and the service name", () =>
    Effect.gen(function*() {
      const configured = yield* settings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20abc,x-tenant=t1",
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "gzip",
        OTEL_EXPORTER_OTLP_TIMEOUT: "2000",
        OTEL_BSP_SCHEDULE_DELAY: "250",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "64",
        OTEL_SERVICE_NAME: "taskd-eu"
      })
      assert.strictEqual(configured?.protocol, "http/json")
      assert.deepStrictEqual(configured?.headers, { authorization: "Bearer abc", "x-tenant": "t1" })
      assert.strictEqual(configured?.compression, "gzip")
      assert.deepStrictEqual(configured?.shutdownTimeout, Duration.millis(2000))
      assert.deepStrictEqual(configured?.exportInterval, Duration.millis(250))
      assert.strictEqual(configured?.maxBatchSize, 64)
      // Named by OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES), which Effect's exporter reads itself.
      assert.isUndefined(configured?.serviceName)
      const byResource = yield* settings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_RESOURCE_ATTRIBUTES: "service.name=taskd-us,deployment.environment=prod"
      })
      assert.isUndefined(byResource?.serviceName)
      const grpc = yield* Effect.flip(
        TracingConfig.parse(
          ConfigProvider.fromEnv({
            env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }
          })
        )
      )
      assert.include(String(grpc), "OTEL_EXPORTER_OTLP")
    }))
})
