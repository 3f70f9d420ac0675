/**
 * The queued-input worker of this instance: claims queued messages (src/Webhooks/QueueRepo.ts says which
 * and when) and sends each to its task's agent through agentapi, one at a time per task, in order.
 *
 * A claimed message is sent when agentapi itself still says the agent is stable (the recorder's status may
 * lag): `GET /status`, then `GET /messages` to note agentapi's last message id, then `POST /message`.
 * - agentapi accepts it: sent.
 * - agentapi refuses it (the agent got busy, a status other than 200, `ok: false`), or the agent is not
 *   stable, or the task is not active: it goes back to the queue and is tried again shortly.
 * - no answer (a timeout, a connection lost): the outcome is unknown. The message stays `sending` without an
 *   owner and the next claim (this instance's or another's) first looks for it in agentapi's conversation
 *   after the noted id, as after a crash of the instance that was sending it; found, it is sent, otherwise
 *   it is sent again.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as SqlClient from "effect/sql/SqlClient"
import { AgentApiClient, type AgentApiError } from "../AgentApi/AgentApiClient.ts"
import { TaskdInstance } from "../Provisioner/JobRunner.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { type ClaimedInput, QueueRepo } from "./QueueRepo.ts"

export const QueueConfig = Config.all({
  poll: Config.Duration("TASKD_QUEUE_POLL").pipe(Config.withDefault(Duration.millis(250)))
})

/** How long a message that could not be sent waits before it is tried again. */
const retryMillis = 1000

const make = Effect.gen(function*() {
  const config = yield* QueueConfig
  const queue = yield* QueueRepo
  const tasks = yield* TaskRepo
  const agentApi = yield* AgentApiClient
  const instance = yield* TaskdInstance
  const scope = yield* Effect.scope

  const releaseQueued = (item: ClaimedInput, afterMillis = retryMillis) =>
    queue.release(item.n, instance.id, "queued", afterMillis)
  const releaseUnknown = (item: ClaimedInput) => queue.release(item.n, instance.id, "unknown", retryMillis)

  /** Whether a user message with the item's text follows agentapi's message `afterId`. */
  const alreadySent = (url: string, item: ClaimedInput, afterId: string) =>
    Effect.map(
      agentApi.messages(url),
      (response) =>
        response.messages.some((message) =>
          message.role === "user" && BigInt(message.id) > BigInt(afterId) && message.content === item.input
        )
    )

  const send = (item: ClaimedInput): Effect.Effect<void, AgentApiError> =>
    Effect.gen(function*() {
      const task = yield* tasks.findById(item.taskId, { userId: "", seesAll: true })
      // A deleted task's queue is cancelled by the database; a paused one waits for its agent.
      if (task === undefined) return yield* releaseQueued(item)
      const url = task.app_url
      if (task.status !== "active" || url === null || url === "") {
        return yield* (item.agentLastId === null ? releaseQueued(item) : releaseUnknown(item))
      }
      if (item.agentLastId !== null) {
        const sent = yield* alreadySent(url, item, item.agentLastId).pipe(
          Effect.catch(() => Effect.succeed(undefined))
        )
        if (sent === undefined) return yield* releaseUnknown(item)
        if (sent) return yield* queue.markSent(item.n, instance.id, item.agentSeq)
      }
      const status = yield* agentApi.status(url)
      if (status.status !== "stable") return yield* releaseQueued(item, 250)
      const { messages } = yield* agentApi.messages(url)
      const lastId = messages.reduce((max, message) => {
        const id = BigInt(message.id)
        return id > max ? id : max
      }, -1n)
      if (!(yield* queue.beforeSend(item.n, instance.id, lastId.toString()))) return
      const answer = yield* agentApi.sendMessage(url, item.input).pipe(
        Effect.catchTag("AgentApiRequestError", (error) =>
          // A status is agentapi's refusal: nothing was taken. No answer: it may have been.
          error.reason === "Status" ? Effect.succeed({ ok: false }) : Effect.fail(error))
      )
      if (!answer.ok) return yield* releaseQueued(item)
      yield* queue.markSent(item.n, instance.id, item.agentSeq)
    })

  const deliver = (item: ClaimedInput) =>
    send(item).pipe(
      Effect.catch((error) =>
        Effect.andThen(
          Effect.logWarning(`queued input not delivered yet: ${error.message}`),
          // Before `beforeSend` nothing was sent; after it the outcome is unknown: the next claim checks.
          releaseUnknown(item)
        )
      ),
      Effect.catchDefect((defect) =>
        Effect.andThen(Effect.logError("queued input worker error", defect), releaseUnknown(item))
      ),
      Effect.annotateLogs({ task_id: item.taskId, queued_id: item.id }),
      Effect.withSpan("Queue.deliver", { root: true, kind: "producer", attributes: { "taskd.task.id": item.taskId } })
    )

  const round = Effect.gen(function*() {
    const claimed = yield* Effect.withTracerEnabled(queue.claim(instance.id, 16), false)
    // Different tasks at once; one task has at most one claimed message.
    yield* Effect.forEach(claimed, (item) => Effect.forkIn(deliver(item), scope), { discard: true })
    yield* Effect.sleep(config.poll)
  })

  const worker = round.pipe(
    Effect.sandbox,
    Effect.tapError((cause) => Effect.logError("queued input worker error", cause)),
    Effect.retry(Schedule.spaced(config.poll)),
    Effect.forever
  )
  yield* Effect.forkScoped(Effect.provideService(worker, Clock.Clock, Clock.Clock.defaultValue()))
})

/** The queued-input worker of this instance. */
export const layer: Layer.Layer<never, ConfigError, SqlClient.SqlClient | TaskdInstance | AgentApiClient> = Layer
  .effectDiscard(make).pipe(Layer.provide(Layer.mergeAll(QueueRepo.layer, TaskRepo.layer)))
