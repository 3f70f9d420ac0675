/**
 * Handlers of the webhooks and queued-input endpoints (src/Api.ts WebhooksGroup, QueueGroup). A user's
 * webhooks are managed by that user or an owner (`{user}` resolves as for other user endpoints); an
 * organization's by owners (RequireOwner and OrganizationParam run before the body is read). Queue
 * endpoints get their task from the TaskParam middleware as `CurrentTask`.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { CurrentUser, type UserActor } from "../Domain/Actor.ts"
import {
  BadRequest,
  Conflict,
  forbidden,
  resourceNotFound,
  ServiceUnavailable,
  validationFailed
} from "../Domain/CoderError.ts"
import { CurrentTask } from "../Domain/Task.ts"
import { CurrentOrganization } from "../Domain/User.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import {
  type CreatedWebhook,
  type CreateWebhookRequest,
  listedDeliveries,
  type WebhookDelivery,
  type WebhookEventName,
  webhookEvents
} from "../Domain/Webhook.ts"
import { resolveUserParam } from "../Users/UserParam.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { AllowConfig, resolvedProblem } from "./Destinations.ts"
import { QueueRepo } from "./QueueRepo.ts"
import { generateSecret, WebhookSecrets } from "./Secrets.ts"
import { type DeliveryRecord, type WebhookOwner, type WebhookRecord, WebhookRepo } from "./WebhookRepo.ts"

const toWebhook = (record: WebhookRecord) => ({
  id: record.id,
  url: record.url,
  events: record.events,
  created_at: record.createdAt
})

const toDelivery = (record: DeliveryRecord): WebhookDelivery => ({
  id: record.id,
  event: record.event,
  task_id: record.taskId,
  created_at: record.createdAt,
  state: record.state,
  attempts: record.attempts,
  ...(record.lastStatus === null ? {} : { last_status: record.lastStatus }),
  ...(record.lastError === null ? {} : { last_error: record.lastError }),
  ...(record.state === "pending" ? { next_attempt_at: record.nextAttemptAt } : {}),
  ...(record.finishedAt === null ? {} : { finished_at: record.finishedAt })
})

const isEvent = (name: string): name is WebhookEventName => (webhookEvents as ReadonlyArray<string>).includes(name)

export const WebhooksHandlers = HttpApiBuilder.group(
  Api,
  "webhooks",
  (handlers) =>
    Effect.gen(function*() {
      const repo = yield* WebhookRepo
      const secrets = yield* WebhookSecrets
      const users = yield* UserRepo
      const allow = yield* AllowConfig

      /** The user's webhooks, for the user or an owner. */
      const userOwner = Effect.fnUntraced(function*(value: string, actor: UserActor) {
        const user = yield* resolveUserParam(value, actor).pipe(Effect.provideService(UserRepo, users))
        if (user.id !== actor.id && actor.role !== "owner") return yield* forbidden()
        return { _tag: "user", userId: user.id } satisfies WebhookOwner as WebhookOwner
      })

      const organizationOwner = Effect.map(
        CurrentOrganization,
        (organization): WebhookOwner => ({ _tag: "organization", organizationId: organization.id })
      )

      const create = Effect.fnUntraced(function*(owner: WebhookOwner, payload: CreateWebhookRequest) {
        const actor = yield* CurrentUser
        const validations: Array<{ field: string; detail: string }> = []
        const urlProblem = yield* resolvedProblem(payload.url, allow, { unresolvable: false })
        if (urlProblem !== undefined) validations.push({ field: "url", detail: `Webhook URL ${urlProblem}.` })
        const unknown = payload.events.filter((name) => !isEvent(name))
        if (payload.events.length === 0) {
          validations.push({ field: "events", detail: `At least one event is required: ${webhookEvents.join(", ")}.` })
        } else if (unknown.length > 0) {
          validations.push({
            field: "events",
            detail: `Unknown event ${JSON.stringify(unknown[0])}; the events are ${webhookEvents.join(", ")}.`
          })
        }
        if (payload.secret !== undefined && (payload.secret.length < 8 || payload.secret.length > 256)) {
          validations.push({ field: "secret", detail: "The secret must be 8 to 256 characters long." })
        }
        if (validations.length > 0) return yield* validationFailed(validations)
        const events = webhookEvents.filter((name) => payload.events.includes(name))
        const secret = payload.secret ?? generateSecret()
        const sealed = yield* secrets.seal(secret).pipe(
          Effect.mapError((error) => new ServiceUnavailable({ message: error.message }))
        )
        const id = randomUUID()
        const createdAt = new Date(yield* Clock.currentTimeMillis)
        yield* repo.insert({ id, owner, url: payload.url, events, secret: sealed, createdBy: actor.id, createdAt })
        const created: CreatedWebhook = {
          id,
          url: payload.url,
          events,
          created_at: createdAt,
          ...(payload.secret === undefined ? { secret } : {})
        }
        return created
      })

      const list = (owner: WebhookOwner) =>
        Effect.map(repo.list(owner), (records) => ({ webhooks: records.map(toWebhook) }))

      const remove = Effect.fnUntraced(function*(owner: WebhookOwner, id: string) {
        if (!isCanonicalUuid(id) || !(yield* repo.remove(owner, id.toLowerCase()))) return yield* resourceNotFound()
      })

      const deliveries = Effect.fnUntraced(function*(owner: WebhookOwner, id: string) {
        const webhook = isCanonicalUuid(id) ? yield* repo.find(owner, id.toLowerCase()) : undefined
        if (webhook === undefined) return yield* resourceNotFound()
        const records = yield* repo.deliveries(webhook.id, listedDeliveries)
        return { deliveries: records.map(toDelivery) }
      })

      return handlers
        .handle(
          "create",
          Effect.fn("Webhooks.create")(function*({ params, payload }) {
            return yield* create(yield* userOwner(params.user, yield* CurrentUser), payload)
          })
        )
        .handle(
          "list",
          Effect.fn("Webhooks.list")(function*({ params }) {
            return yield* list(yield* userOwner(params.user, yield* CurrentUser))
          })
        )
        .handle(
          "delete",
          Effect.fn("Webhooks.delete")(function*({ params }) {
            yield* remove(yield* userOwner(params.user, yield* CurrentUser), params.webhook)
          })
        )
        .handle(
          "deliveries",
          Effect.fn("Webhooks.deliveries")(function*({ params }) {
            return yield* deliveries(yield* userOwner(params.user, yield* CurrentUser), params.webhook)
          })
        )
        .handle(
          "createForOrganization",
          Effect.fn("Webhooks.createForOrganization")(function*({ payload }) {
            return yield* create(yield* organizationOwner, payload)
          })
        )
        .handle(
          "listForOrganization",
          Effect.fn("Webhooks.listForOrganization")(function*() {
            return yield* list(yield* organizationOwner)
          })
        )
        .handle(
          "deleteForOrganization",
          Effect.fn("Webhooks.deleteForOrganization")(function*({ params }) {
            yield* remove(yield* organizationOwner, params.webhook)
          })
        )
        .handle(
          "deliveriesForOrganization",
          Effect.fn("Webhooks.deliveriesForOrganization")(function*({ params }) {
            return yield* deliveries(yield* organizationOwner, params.webhook)
          })
        )
    })
).pipe(Layer.provide(Layer.mergeAll(WebhookRepo.layer, WebhookSecrets.layer, UserRepo.layer)))

export const QueueHandlers = HttpApiBuilder.group(
  Api,
  "queue",
  (handlers) =>
    Effect.gen(function*() {
      const queue = yield* QueueRepo
      return handlers
        .handle(
          "enqueue",
          Effect.fn("Queue.enqueue")(function*({ payload }) {
            const task = yield* CurrentTask
            // agentapi takes only trimmed, non-empty messages.
            const input = payload.input.trim()
            if (input === "") {
              return yield* new BadRequest({
                message: "Validation failed.",
                validations: [{ field: "input", detail: "The input is required." }]
              })
            }
            const queued = yield* queue.enqueue({ id: randomUUID(), taskId: task.id, input })
            return { id: queued.id, input: queued.input, created_at: queued.createdAt }
          })
        )
        .handle(
          "list",
          Effect.fn("Queue.list")(function*() {
            const task = yield* CurrentTask
            const pending = yield* queue.pending(task.id)
            return { queued: pending.map((item) => ({ id: item.id, input: item.input, created_at: item.createdAt })) }
          })
        )
        .handle(
          "cancel",
          Effect.fn("Queue.cancel")(function*({ params }) {
            const task = yield* CurrentTask
            if (!isCanonicalUuid(params.id)) return yield* resourceNotFound()
            const outcome = yield* queue.cancel(task.id, params.id.toLowerCase())
            switch (outcome) {
              case "cancelled":
                return
              case "missing":
                return yield* resourceNotFound()
              case "sent":
              case "sending":
                return yield* new Conflict({
                  message: outcome === "sent" ? "The message was already sent." : "The message is being sent.",
                  detail: "Only a message that is still queued can be cancelled."
                })
            }
          })
        )
    })
).pipe(Layer.provide(QueueRepo.layer))
