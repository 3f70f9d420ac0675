/**
 * Webhooks and their deliveries in Postgres (sql/0009). Deliveries are created by the database itself, in
 * the transaction of the task change they announce; this repository registers webhooks, lists them and
 * their deliveries, and claims due deliveries for the delivery worker the way provisioner jobs are claimed
 * (src/Provisioner/JobRepo.ts): FOR UPDATE SKIP LOCKED, and a delivery in progress is taken over when its
 * instance is gone. The database's clock decides every time.
 *
 * SQL errors and rows that do not decode are defects here, at the repository's edge.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { DeliveryState, listedDeliveries, type WebhookEventName } from "../Domain/Webhook.ts"
import type { Sealed } from "./Secrets.ts"

/** Whose a webhook is: a user's (their tasks) or an organization's (all of its tasks). */
export type WebhookOwner =
  | { readonly _tag: "user"; readonly userId: string }
  | { readonly _tag: "organization"; readonly organizationId: string }

export interface WebhookRecord {
  readonly id: string
  readonly url: string
  readonly events: ReadonlyArray<WebhookEventName>
  readonly createdAt: Date
}

export interface DeliveryRecord {
  readonly id: string
  readonly event: WebhookEventName
  readonly taskId: string
  readonly createdAt: Date
  readonly state: DeliveryState
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly nextAttemptAt: Date
  readonly finishedAt: Date | null
}

/** A delivery claimed for an attempt, with what sending it needs. */
export interface ClaimedDelivery {
  /** The row's number, which orders a task's deliveries. */
  readonly n: string
  readonly id: string
  readonly webhookId: string
  readonly taskId: string
  readonly event: string
  readonly createdAt: Date
  /** This attempt's number, from 1. */
  readonly attempts: number
  /** The body frozen at the first attempt, if there was one. */
  readonly body: string | null
  readonly url: string
  readonly secret: Sealed
}

const WebhookRow = Schema.Struct({
  id: Schema.String,
  url: Schema.String,
  events: Schema.String,
  created_at: Schema.Date
})
const decodeWebhooks = Schema.decodeUnknownSync(Schema.Array(WebhookRow))

const DeliveryRow = Schema.Struct({
  id: Schema.String,
  event: Schema.String,
  task_id: Schema.String,
  created_at: Schema.Date,
  state: DeliveryState,
  attempts: Schema.Number,
  last_status: Schema.NullOr(Schema.Number),
  last_error: Schema.NullOr(Schema.String),
  next_attempt_at: Schema.Date,
  finished_at: Schema.NullOr(Schema.Date)
})
const decodeDeliveries = Schema.decodeUnknownSync(Schema.Array(DeliveryRow))

const ClaimedRow = Schema.Struct({
  n: Schema.String,
  id: Schema.String,
  webhook_id: Schema.String,
  task_id: Schema.String,
  event: Schema.String,
  created_at: Schema.Date,
  attempts: Schema.Number,
  body: Schema.NullOr(Schema.String),
  url: Schema.String,
  secret_ciphertext: Schema.Uint8Array,
  secret_nonce: Schema.Uint8Array
})
const decodeClaimed = Schema.decodeUnknownSync(Schema.Array(ClaimedRow))

const toWebhook = (row: typeof WebhookRow.Type): WebhookRecord => ({
  id: row.id,
  url: row.url,
  events: JSON.parse(row.events) as ReadonlyArray<WebhookEventName>,
  createdAt: row.created_at
})

export class WebhookRepo extends Context.Service<WebhookRepo, {
  readonly insert: (webhook: {
    readonly id: string
    readonly owner: WebhookOwner
    readonly url: string
    readonly events: ReadonlyArray<WebhookEventName>
    readonly secret: Sealed
    readonly createdBy: string
    readonly createdAt: Date
  }) => Effect.Effect<void>
  /** The owner's webhooks, oldest first. */
  readonly list: (owner: WebhookOwner) => Effect.Effect<ReadonlyArray<WebhookRecord>>
  readonly find: (owner: WebhookOwner, id: string) => Effect.Effect<WebhookRecord | undefined>
  /** Deletes the owner's webhook with its deliveries; false when there is none. */
  readonly remove: (owner: WebhookOwner, id: string) => Effect.Effect<boolean>
  /** The webhook's latest `limit` deliveries, newest first. */
  readonly deliveries: (webhookId: string, limit: number) => Effect.Effect<ReadonlyArray<DeliveryRecord>>
  /**
   * Claims up to `limit` due deliveries for `instanceId`: each the oldest unfinished delivery of its task
   * to its webhook (so a task's deliveries to one webhook go in order, one at a time), of webhooks with
   * fewer than `perWebhook` deliveries in progress. Pending ones when due; in-progress ones whose
   * instance is gone. Counts the attempt.
   */
  readonly claim: (
    instanceId: string,
    limit: number,
    perWebhook: number
  ) => Effect.Effect<ReadonlyArray<ClaimedDelivery>>
  /** Freezes the body of a delivery this instance holds. */
  readonly setBody: (n: string, instanceId: string, body: string) => Effect.Effect<void>
  /** The last task body sent for the task (any webhook), or a minimal one from the task row; for deleted tasks. */
  readonly lastKnownTask: (taskId: string) => Effect.Effect<unknown>
  /** Records the outcome of an attempt of a delivery this instance holds. */
  readonly finish: (
    n: string,
    instanceId: string,
    outcome:
      | { readonly _tag: "delivered"; readonly status: number }
      | { readonly _tag: "failed"; readonly status: number | null; readonly error: string }
      | {
        readonly _tag: "retry"
        readonly status: number | null
        readonly error: string
        readonly afterMillis: number
      }
  ) => Effect.Effect<void>
}>()("taskd/WebhookRepo") {
  static readonly layer = Layer.effect(
    WebhookRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const ownedBy = (owner: WebhookOwner) =>
        owner._tag === "user" ? sql`user_id = ${owner.userId}` : sql`organization_id = ${owner.organizationId}`

      const columns = sql`id, url, array_to_json(events)::text AS events, created_at`

      const insert: WebhookRepo["Service"]["insert"] = (webhook) =>
        sql`INSERT INTO webhooks (id, user_id, organization_id, url, events, secret_ciphertext, secret_nonce,
                                  created_by, created_at)
            VALUES (${webhook.id}, ${webhook.owner._tag === "user" ? webhook.owner.userId : null},
                    ${webhook.owner._tag === "organization" ? webhook.owner.organizationId : null}, ${webhook.url},
                    ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(webhook.events)}::jsonb)),
                    ${webhook.secret.ciphertext}, ${webhook.secret.nonce}, ${webhook.createdBy},
                    ${webhook.createdAt})`.pipe(Effect.asVoid, Effect.orDie, Effect.withSpan("WebhookRepo.insert"))

      const list = (owner: WebhookOwner) =>
        sql`SELECT ${columns} FROM webhooks WHERE ${ownedBy(owner)} ORDER BY created_at, id`.pipe(
          Effect.map((rows) => decodeWebhooks(rows).map(toWebhook)),
          Effect.orDie
        )

      const find = (owner: WebhookOwner, id: string) =>
        sql`SELECT ${columns} FROM webhooks WHERE ${ownedBy(owner)} AND id = ${id}`.pipe(
          Effect.map((rows) => decodeWebhooks(rows).map(toWebhook)[0]),
          Effect.orDie
        )

      const remove = (owner: WebhookOwner, id: string) =>
        sql`DELETE FROM webhooks WHERE ${ownedBy(owner)} AND id = ${id} RETURNING id`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.orDie
        )

      const deliveries = (webhookId: string, limit: number) =>
        sql`SELECT id, event, task_id, created_at, state, attempts, last_status, last_error, next_attempt_at,
                   finished_at
            FROM webhook_deliveries WHERE webhook_id = ${webhookId} ORDER BY n DESC LIMIT ${limit}`.pipe(
          Effect.map((rows) =>
            decodeDeliveries(rows).map((row): DeliveryRecord => ({
              id: row.id,
              event: row.event as WebhookEventName,
              taskId: row.task_id,
              createdAt: row.created_at,
              state: row.state,
              attempts: row.attempts,
              lastStatus: row.last_status,
              lastError: row.last_error,
              nextAttemptAt: row.next_attempt_at,
              finishedAt: row.finished_at
            }))
          ),
          Effect.orDie
        )

      const claim = (instanceId: string, limit: number, perWebhook: number) =>
        sql`
          WITH next AS (
            SELECT d.n FROM webhook_deliveries d
            WHERE ((d.state = 'pending' AND d.next_attempt_at <= now())
                OR (d.state = 'delivering' AND NOT EXISTS (
                  SELECT 1 FROM taskd_instances i
                  WHERE i.id = d.instance_id AND i.stopped_at IS NULL AND i.heartbeat_at + i.stale_after >= now())))
              AND NOT EXISTS (
                SELECT 1 FROM webhook_deliveries e
                WHERE e.webhook_id = d.webhook_id AND e.task_id = d.task_id AND e.n < d.n
                  AND e.state IN ('pending', 'delivering'))
              -- Only live instances' claims count: a dead one's would otherwise block their own takeover.
              AND (SELECT count(*) FROM webhook_deliveries f
                   JOIN taskd_instances i ON i.id = f.instance_id
                   WHERE f.webhook_id = d.webhook_id AND f.state = 'delivering'
                     AND i.stopped_at IS NULL AND i.heartbeat_at + i.stale_after >= now()) < ${perWebhook}
            ORDER BY d.n
            FOR UPDATE OF d SKIP LOCKED
            LIMIT ${limit}
          )
          UPDATE webhook_deliveries d
          SET state = 'delivering', instance_id = ${instanceId}, claimed_at = now(), attempts = d.attempts + 1
          FROM next, webhooks w
          WHERE d.n = next.n AND w.id = d.webhook_id
          RETURNING d.n::text AS n, d.id, d.webhook_id, d.task_id, d.event, d.created_at, d.attempts, d.body, w.url,
                    w.secret_ciphertext, w.secret_nonce`.pipe(
          Effect.map((rows) =>
            decodeClaimed(rows)
              .map((row): ClaimedDelivery => ({
                n: row.n,
                id: row.id,
                webhookId: row.webhook_id,
                taskId: row.task_id,
                event: row.event,
                createdAt: row.created_at,
                attempts: row.attempts,
                body: row.body,
                url: row.url,
                secret: { ciphertext: row.secret_ciphertext, nonce: row.secret_nonce }
              }))
              .sort((a, b) => Number(BigInt(a.n) - BigInt(b.n)))
          ),
          Effect.orDie
        )

      const setBody = (n: string, instanceId: string, body: string) =>
        sql`UPDATE webhook_deliveries SET body = ${body}
            WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND body IS NULL`.pipe(Effect.asVoid, Effect.orDie)

      const lastKnownTask = (taskId: string) =>
        sql<{ task: string | null }>`
          SELECT COALESCE(
            (SELECT (body::jsonb -> 'task')::text FROM webhook_deliveries
             WHERE task_id = ${taskId} AND body IS NOT NULL AND body::jsonb -> 'task' ? 'status'
             ORDER BY n DESC LIMIT 1),
            (SELECT jsonb_build_object('id', t.id, 'organization_id', t.organization_id, 'owner_id', t.owner_id,
                                       'name', t.name, 'display_name', t.display_name)::text
             FROM tasks t WHERE t.id = ${taskId})
          ) AS task`.pipe(
          Effect.map((rows) => {
            const text = rows[0]?.task ?? null
            return text === null ? { id: taskId } : JSON.parse(text) as unknown
          }),
          Effect.orDie
        )

      /**
       * After a delivery finishes (the `finished` CTE): the webhook's finished deliveries older than its
       * latest `listedDeliveries` go, so that the table holds what can be listed and what is still to send.
       * The statement sees the rows as they were before the update, so the one just finished stays this
       * time whatever its age.
       */
      const pruneFinished = sql`DELETE FROM webhook_deliveries d USING finished f
        WHERE d.webhook_id = f.webhook_id AND d.state IN ('delivered', 'failed')
          AND d.n < (SELECT k.n FROM webhook_deliveries k WHERE k.webhook_id = f.webhook_id
                     ORDER BY k.n DESC OFFSET ${listedDeliveries - 1} LIMIT 1)`

      const finish: WebhookRepo["Service"]["finish"] = (n, instanceId, outcome) => {
        switch (outcome._tag) {
          case "delivered":
            return sql`WITH finished AS (
                         UPDATE webhook_deliveries
                         SET state = 'delivered', last_status = ${outcome.status}, last_error = NULL,
                             finished_at = now(), instance_id = NULL
                         WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'delivering'
                         RETURNING webhook_id
                       )
                       ${pruneFinished}`.pipe(Effect.asVoid, Effect.orDie)
          case "failed":
            return sql`WITH finished AS (
                         UPDATE webhook_deliveries
                         SET state = 'failed', last_status = ${outcome.status}, last_error = ${outcome.error},
                             finished_at = now(), instance_id = NULL
                         WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'delivering'
                         RETURNING webhook_id
                       )
                       ${pruneFinished}`.pipe(Effect.asVoid, Effect.orDie)
          case "retry":
            return sql`UPDATE webhook_deliveries
                       SET state = 'pending', last_status = ${outcome.status}, last_error = ${outcome.error},
                           next_attempt_at = now() + make_interval(secs => ${outcome.afterMillis / 1000}),
                           instance_id = NULL
                       WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'delivering'`.pipe(
              Effect.asVoid,
              Effect.orDie
            )
        }
      }

      return WebhookRepo.of({ insert, list, find, remove, deliveries, claim, setBody, lastKnownTask, finish })
    })
  )
}
