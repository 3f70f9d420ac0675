/**
 * The webhook delivery worker of this instance: claims due deliveries (src/Webhooks/WebhookRepo.ts) and
 * POSTs each, signed, to its webhook, in a fiber of its own. Every attempt is bounded by
 * `TASKD_WEBHOOK_TIMEOUT`; a failed one is not waited out in a fiber but rescheduled in the database
 * (`next_attempt_at`), so a dead endpoint holds at most a few claims (`perWebhook`) for one timeout at a
 * time, and never a request of the API or another webhook's delivery.
 *
 * Outcomes: 2xx delivered; a timeout, a connection error, 5xx, 408 or 429 retried after
 * `TASKD_WEBHOOK_BACKOFF`, doubling each time, until `TASKD_WEBHOOK_ATTEMPTS` attempts; any other status
 * (4xx, 3xx: redirects are not followed) or a destination that is no longer allowed gives up at once.
 *
 * The body's `task` is the task as `GET` returns it, read when the delivery is first attempted; the body is
 * then frozen, so retries send the same bytes (with a new signature time). A task deleted by then is
 * described by the last task body taskd sent for it, or, when it never sent one, by its id, names, owner
 * and organization.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import { Task } from "../Domain/Task.ts"
import { formatTime } from "../Domain/Time.ts"
import { TaskdInstance } from "../Provisioner/JobRunner.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { toTask } from "../Tasks/TaskView.ts"
import { AllowConfig, resolvedProblem } from "./Destinations.ts"
import { signature, WebhookSecrets } from "./Secrets.ts"
import { type ClaimedDelivery, WebhookRepo } from "./WebhookRepo.ts"

export const DeliveryConfig = Config.all({
  backoff: Config.Duration("TASKD_WEBHOOK_BACKOFF").pipe(Config.withDefault(Duration.seconds(1))),
  attempts: Config.Int("TASKD_WEBHOOK_ATTEMPTS").pipe(Config.withDefault(8)),
  timeout: Config.Duration("TASKD_WEBHOOK_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  poll: Config.Duration("TASKD_WEBHOOK_POLL").pipe(Config.withDefault(Duration.millis(250))),
  allow: AllowConfig
})

/** Deliveries in progress per webhook (across instances, roughly) and per instance. */
const perWebhook = 4
const maxInFlight = 64

/** The header that carries the signature. */
export const signatureHeader = "Taskd-Signature"

const encodeTask = Schema.encodeSync(Task)

type Outcome =
  | { readonly _tag: "delivered"; readonly status: number }
  | { readonly _tag: "failed"; readonly status: number | null; readonly error: string }
  | { readonly _tag: "retryable"; readonly status: number | null; readonly error: string }

const retryableStatus = (status: number) => status >= 500 || status === 408 || status === 429

const make = Effect.gen(function*() {
  const config = yield* DeliveryConfig
  const repo = yield* WebhookRepo
  const tasks = yield* TaskRepo
  const secrets = yield* WebhookSecrets
  const instance = yield* TaskdInstance
  const client = yield* HttpClient.HttpClient
  const wakeup = yield* Queue.sliding<void>(1)
  // Deliveries run in the layer's scope: closing it (shutdown) interrupts them, and the instance, marked
  // stopped, leaves their claims to other instances.
  const scope = yield* Effect.scope
  let inFlight = 0

  /** The JSON body of a delivery, `task` as GET returns it now. */
  const buildBody = (delivery: ClaimedDelivery) =>
    Effect.gen(function*() {
      const row = yield* tasks.findById(delivery.taskId, { userId: "", seesAll: true })
      const task = row === undefined ? yield* repo.lastKnownTask(delivery.taskId) : encodeTask(toTask(row))
      return JSON.stringify({
        id: delivery.id,
        event: delivery.event,
        created_at: formatTime(delivery.createdAt),
        task
      })
    })

  const post = (delivery: ClaimedDelivery, body: string, secret: string): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      const seconds = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const request = HttpClientRequest.post(delivery.url).pipe(
        HttpClientRequest.bodyText(body, "application/json"),
        HttpClientRequest.setHeader(signatureHeader, signature(secret, seconds, body)),
        HttpClientRequest.setHeader("User-Agent", "taskd-webhooks")
      )
      return yield* client.execute(request).pipe(
        Effect.map((response): Outcome => {
          const status = response.status
          if (status >= 200 && status < 300) return { _tag: "delivered", status }
          return retryableStatus(status)
            ? { _tag: "retryable", status, error: `status ${status}` }
            : { _tag: "failed", status, error: `status ${status}` }
        }),
        Effect.scoped,
        Effect.catchTag("HttpClientError", (error): Effect.Effect<Outcome> =>
          Effect.succeed({
            _tag: "retryable",
            status: null,
            error: String(error.reason.cause ?? error.reason.message ?? error.message)
          })),
        Effect.timeoutOrElse({
          duration: config.timeout,
          orElse: () =>
            Effect.succeed<Outcome>({
              _tag: "retryable",
              status: null,
              error: `timed out after ${Duration.format(config.timeout)}`
            })
        })
      )
    })

  const attempt = (delivery: ClaimedDelivery): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      let body = delivery.body
      if (body === null) {
        body = yield* buildBody(delivery)
        yield* repo.setBody(delivery.n, instance.id, body)
      }
      const secret = yield* secrets.open(delivery.secret)
      const problem = yield* resolvedProblem(delivery.url, config.allow, { unresolvable: true })
      if (problem !== undefined) {
        return problem.endsWith("does not resolve")
          ? { _tag: "retryable", status: null, error: problem } as const
          : { _tag: "failed", status: null, error: `destination refused: ${problem}` } as const
      }
      return yield* post(delivery, body, secret)
    }).pipe(
      Effect.catchTag("SecretKeyUnavailable", (error) =>
        Effect.succeed<Outcome>({ _tag: "retryable", status: null, error: error.message })),
      Effect.catchDefect((defect) =>
        Effect.succeed<Outcome>({ _tag: "retryable", status: null, error: `internal error: ${String(defect)}` })
      )
    )

  const deliver = (delivery: ClaimedDelivery) =>
    attempt(delivery).pipe(
      Effect.flatMap((outcome) => {
        if (outcome._tag !== "retryable") return repo.finish(delivery.n, instance.id, outcome)
        if (delivery.attempts >= config.attempts) {
          return repo.finish(delivery.n, instance.id, {
            _tag: "failed",
            status: outcome.status,
            error: `${outcome.error} (gave up after ${delivery.attempts} attempts)`
          })
        }
        const afterMillis = Duration.toMillis(config.backoff) * 2 ** (delivery.attempts - 1)
        return repo.finish(delivery.n, instance.id, { ...outcome, _tag: "retry", afterMillis })
      }),
      Effect.tap(() => Effect.logDebug("webhook delivery attempted")),
      Effect.annotateLogs({ delivery_id: delivery.id, webhook_id: delivery.webhookId, task_id: delivery.taskId }),
      Effect.withSpan("Webhooks.deliver", {
        root: true,
        kind: "producer",
        attributes: { "taskd.webhook.id": delivery.webhookId, "taskd.task.id": delivery.taskId }
      }),
      Effect.ensuring(Effect.andThen(
        Effect.sync(() => inFlight--),
        // The task's next delivery to this webhook may be due now.
        Queue.offer(wakeup, undefined)
      ))
    )

  const untraced = Effect.withTracerEnabled(false)

  /** Claims what there is room for and starts each; else waits for a finished delivery or the poll. */
  const round = Effect.gen(function*() {
    const room = maxInFlight - inFlight
    if (room > 0) {
      const claimed = yield* untraced(repo.claim(instance.id, Math.min(room, 16), perWebhook))
      for (const delivery of claimed) {
        inFlight++
        yield* Effect.forkIn(deliver(delivery), scope)
      }
      if (claimed.length > 0) return
    }
    yield* Effect.raceFirst(Queue.take(wakeup), Effect.sleep(config.poll))
  })

  const worker = round.pipe(
    Effect.sandbox,
    Effect.tapError((cause) => Effect.logError("webhook delivery worker error", cause)),
    Effect.retry(Schedule.spaced(config.poll)),
    Effect.forever
  )
  // Infrastructure timing: the wall clock, even when handlers run on a test clock.
  yield* Effect.forkScoped(Effect.provideService(worker, Clock.Clock, Clock.Clock.defaultValue()))
})

/** The webhook delivery worker of this instance, on its own undici transport. */
export const layer: Layer.Layer<never, ConfigError, SqlClient.SqlClient | TaskdInstance> = Layer.effectDiscard(
  make
).pipe(
  Layer.provide(Layer.mergeAll(
    WebhookRepo.layer,
    TaskRepo.layer,
    WebhookSecrets.layer,
    NodeHttpClient.layerUndiciOptions({ connect: { timeout: 5000 } })
  ))
)
