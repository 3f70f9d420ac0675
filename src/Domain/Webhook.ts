/**
 * Webhooks and queued input (issue 15), taskd's own endpoints: the wire shapes of registering webhooks,
 * reading their deliveries, and queueing input for a task's agent.
 *
 * A webhook delivery is a POST of `WebhookDeliveryBody` (see the README's "Webhooks"); its `task` is the
 * task as `GET /api/v2/tasks/{user}/{task}` returns it.
 */
import * as Schema from "effect/Schema"
import { withDefault } from "./Fields.ts"
import { Timestamp } from "./Time.ts"
import { Uuid } from "./Uuid.ts"

/** The events a webhook may subscribe to. */
export const webhookEvents = [
  "task.created",
  "task.status_changed",
  "task.needs_input",
  "task.completed",
  "task.failed",
  "task.deleted"
] as const
export const WebhookEventName = Schema.Literals(webhookEvents)
export type WebhookEventName = typeof WebhookEventName.Type

/**
 * `events` and `url` are checked by the handler (Coder's validation body names each bad field), so they
 * decode as plain strings here.
 */
export const CreateWebhookRequest = Schema.Struct({
  url: withDefault(Schema.String, () => ""),
  events: withDefault(Schema.Array(Schema.String), () => []),
  secret: Schema.optionalKey(Schema.String).annotate({
    description: "The key deliveries are signed with (8 to 256 characters). Omitted: taskd generates one and " +
      "answers it once."
  })
}).annotate({ identifier: "CreateWebhookRequest" })
export type CreateWebhookRequest = typeof CreateWebhookRequest.Type

export const Webhook = Schema.Struct({
  id: Uuid,
  url: Schema.String,
  events: Schema.Array(WebhookEventName),
  created_at: Timestamp
}).annotate({ identifier: "Webhook" })
export type Webhook = typeof Webhook.Type

/** The answer to creating a webhook: `secret` only when taskd generated it, and only this once. */
export const CreatedWebhook = Schema.Struct({
  ...Webhook.fields,
  secret: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "CreatedWebhook" })
export type CreatedWebhook = typeof CreatedWebhook.Type

export const WebhooksResponse = Schema.Struct({ webhooks: Schema.Array(Webhook) }).annotate({
  identifier: "WebhooksResponse"
})

export const DeliveryState = Schema.Literals(["pending", "delivering", "delivered", "failed"])
export type DeliveryState = typeof DeliveryState.Type

/** One delivery of an event to a webhook and its outcome so far. */
export const WebhookDelivery = Schema.Struct({
  id: Uuid,
  event: WebhookEventName,
  task_id: Uuid,
  created_at: Timestamp,
  state: DeliveryState,
  attempts: Schema.Int,
  /** The HTTP status of the last attempt, when it got one. */
  last_status: Schema.optionalKey(Schema.Int),
  /** Why the last attempt failed (a timeout, a refused connection, a status), when it did. */
  last_error: Schema.optionalKey(Schema.String),
  /** When it is due again (pending). */
  next_attempt_at: Schema.optionalKey(Timestamp),
  finished_at: Schema.optionalKey(Timestamp)
}).annotate({ identifier: "WebhookDelivery" })
export type WebhookDelivery = typeof WebhookDelivery.Type

export const WebhookDeliveriesResponse = Schema.Struct({ deliveries: Schema.Array(WebhookDelivery) }).annotate({
  identifier: "WebhookDeliveriesResponse"
})

/**
 * How many of a webhook's latest deliveries `GET .../deliveries` lists, and how many finished ones are kept:
 * older finished deliveries are deleted as new ones finish, so the table does not grow without end.
 */
export const listedDeliveries = 100

export const QueueInputRequest = Schema.Struct({
  input: withDefault(Schema.String, () => "")
}).annotate({ identifier: "QueueInputRequest" })

export const QueuedInput = Schema.Struct({
  id: Uuid,
  input: Schema.String,
  created_at: Timestamp
}).annotate({ identifier: "QueuedInput" })
export type QueuedInput = typeof QueuedInput.Type

export const QueueResponse = Schema.Struct({ queued: Schema.Array(QueuedInput) }).annotate({
  identifier: "QueueResponse"
})

/**
 * The data of the task stream's `event: queue`: a queued message's id and the state it is in now.
 */
export const QueueStateEvent = Schema.Struct({
  id: Uuid,
  state: Schema.Literals(["queued", "sent", "cancelled"])
}).annotate({ identifier: "QueueStateEvent" })
export type QueueStateEvent = typeof QueueStateEvent.Type
