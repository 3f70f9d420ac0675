/**
 * Queued input for tasks' agents in Postgres (sql/0009 task_queue). Instances claim messages the way
 * provisioner jobs are claimed (FOR UPDATE SKIP LOCKED, takeover from instances that are gone): for each
 * task only its oldest unfinished message, and only while the task is active and its agent stable
 * (task_streams, kept by the recorder) with a "stable" newer than the one the previous message was sent
 * at (the agent went to work on that one and came back), or 10 seconds after it.
 *
 * Exactly once: before sending, the worker records agentapi's last message id (`agent_last_id`). A message
 * left `sending` (its instance was killed, or the send's outcome is unknown) is claimed again with that id,
 * and the worker first looks in agentapi's conversation for a user message with the same text after that
 * id: found, it was sent; not found, it is sent now.
 *
 * Every change of a message's announced state (queued, sent, cancelled) is a change of its task
 * (sql/0009's trigger numbers it in task_streams.seq and keeps the number in `seq`): `changesSince` is
 * what the task's event stream reads for `event: queue`.
 *
 * SQL errors and rows that do not decode are defects here, at the repository's edge.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { QueueStateEvent } from "../Domain/Webhook.ts"

export interface QueuedRecord {
  readonly id: string
  readonly input: string
  readonly createdAt: Date
}

/** A message claimed for sending. */
export interface ClaimedInput {
  readonly n: string
  readonly id: string
  readonly taskId: string
  readonly input: string
  /** agentapi's last message id before an earlier attempt to send it (its outcome unknown), or null. */
  readonly agentLastId: string | null
  /** The change number of the agent status it was claimed at. */
  readonly agentSeq: string
}

/** A change of a queued message's announced state, numbered in its task's changes. */
export interface QueueChange {
  readonly seq: number
  readonly event: QueueStateEvent
}

export type CancelOutcome = "cancelled" | "sent" | "sending" | "missing"

const QueuedRow = Schema.Struct({ id: Schema.String, input: Schema.String, created_at: Schema.Date })
const decodeQueued = Schema.decodeUnknownSync(Schema.Array(QueuedRow))
const ClaimedRow = Schema.Struct({
  n: Schema.String,
  id: Schema.String,
  task_id: Schema.String,
  input: Schema.String,
  agent_last_id: Schema.NullOr(Schema.String),
  agent_seq: Schema.String
})
const decodeClaimed = Schema.decodeUnknownSync(Schema.Array(ClaimedRow))
const ChangeRow = Schema.Struct({
  seq: Schema.String,
  id: Schema.String,
  state: QueueStateEvent.fields.state
})
const decodeChanges = Schema.decodeUnknownSync(Schema.Array(ChangeRow))

const toQueued = (row: typeof QueuedRow.Type): QueuedRecord => ({
  id: row.id,
  input: row.input,
  createdAt: row.created_at
})

export class QueueRepo extends Context.Service<QueueRepo, {
  readonly enqueue: (input: { readonly id: string; readonly taskId: string; readonly input: string }) => Effect.Effect<
    QueuedRecord
  >
  /** The task's messages not sent or cancelled yet, in order. */
  readonly pending: (taskId: string) => Effect.Effect<ReadonlyArray<QueuedRecord>>
  /** Cancels a message not yet claimed for sending; says what became of it otherwise. */
  readonly cancel: (taskId: string, id: string) => Effect.Effect<CancelOutcome>
  readonly claim: (instanceId: string, limit: number) => Effect.Effect<ReadonlyArray<ClaimedInput>>
  /** Records agentapi's last message id before the send; false when the claim is no longer this instance's. */
  readonly beforeSend: (n: string, instanceId: string, agentLastId: string) => Effect.Effect<boolean>
  readonly markSent: (n: string, instanceId: string, agentSeq: string) => Effect.Effect<void>
  /**
   * Gives the claim up for `afterMillis`: `queued` when the message was certainly not delivered, `unknown`
   * when it may have been (it stays `sending`, and the next claim checks agentapi's conversation first).
   */
  readonly release: (
    n: string,
    instanceId: string,
    outcome: "queued" | "unknown",
    afterMillis: number
  ) => Effect.Effect<void>
  /** The task's queue changes numbered above `afterSeq`, in order (for the task's event stream). */
  readonly changesSince: (taskId: string, afterSeq: number) => Effect.Effect<ReadonlyArray<QueueChange>>
}>()("taskd/QueueRepo") {
  static readonly layer = Layer.effect(
    QueueRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const enqueue: QueueRepo["Service"]["enqueue"] = ({ id, input, taskId }) =>
        sql`INSERT INTO task_queue (id, task_id, input, created_at, next_attempt_at)
            VALUES (${id}, ${taskId}, ${input}, now(), now())
            RETURNING id, input, created_at`.pipe(
          Effect.map((rows) => toQueued(decodeQueued(rows)[0]!)),
          Effect.orDie,
          Effect.withSpan("QueueRepo.enqueue")
        )

      const pending = (taskId: string) =>
        sql`SELECT id, input, created_at FROM task_queue
            WHERE task_id = ${taskId} AND state IN ('queued', 'sending') ORDER BY n`.pipe(
          Effect.map((rows) => decodeQueued(rows).map(toQueued)),
          Effect.orDie
        )

      const cancel = (taskId: string, id: string) =>
        Effect.gen(function*() {
          const cancelled = yield* sql`UPDATE task_queue SET state = 'cancelled'
                                       WHERE task_id = ${taskId} AND id = ${id} AND state = 'queued' RETURNING id`
          if (cancelled.length > 0) return "cancelled" as const
          const rows = yield* sql<
            { state: string }
          >`SELECT state FROM task_queue WHERE task_id = ${taskId} AND id = ${id}`
          const state = rows[0]?.state
          return state === undefined
            ? "missing" as const
            : state === "cancelled"
            ? "cancelled" as const
            : state === "sent"
            ? "sent" as const
            : "sending" as const
        }).pipe(Effect.orDie, Effect.withSpan("QueueRepo.cancel"))

      const claim = (instanceId: string, limit: number) =>
        sql`
          WITH next AS (
            SELECT q.n FROM task_queue q
            JOIN task_streams s ON s.task_id = q.task_id
            WHERE q.next_attempt_at <= now()
              AND (q.state = 'queued'
                OR (q.state = 'sending' AND (q.instance_id IS NULL OR NOT EXISTS (
                  SELECT 1 FROM taskd_instances i
                  WHERE i.id = q.instance_id AND i.stopped_at IS NULL AND i.heartbeat_at + i.stale_after >= now()))))
              AND NOT EXISTS (
                SELECT 1 FROM task_queue e
                WHERE e.task_id = q.task_id AND e.n < q.n AND e.state IN ('queued', 'sending'))
              AND NOT s.deleted AND s.agent_status = 'stable'
              AND split_part(s.task_fingerprint, chr(31), 1) = 'active'
              AND (q.state = 'sending' OR NOT EXISTS (
                SELECT 1 FROM task_queue p
                WHERE p.task_id = q.task_id AND p.state = 'sent' AND p.sent_agent_seq >= s.agent_seq
                  AND p.sent_at > now() - interval '10 seconds'))
            ORDER BY q.n
            FOR UPDATE OF q SKIP LOCKED
            LIMIT ${limit}
          )
          UPDATE task_queue q
          SET state = 'sending', instance_id = ${instanceId}, claimed_at = now()
          FROM next, task_streams s
          WHERE q.n = next.n AND s.task_id = q.task_id
          RETURNING q.n::text AS n, q.id, q.task_id, q.input, q.agent_last_id::text AS agent_last_id,
                    s.agent_seq::text AS agent_seq`.pipe(
          Effect.map((rows) =>
            decodeClaimed(rows).map((row): ClaimedInput => ({
              n: row.n,
              id: row.id,
              taskId: row.task_id,
              input: row.input,
              agentLastId: row.agent_last_id,
              agentSeq: row.agent_seq
            }))
          ),
          Effect.orDie
        )

      const beforeSend = (n: string, instanceId: string, agentLastId: string) =>
        sql`UPDATE task_queue SET agent_last_id = ${agentLastId}::bigint
            WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'sending' RETURNING n`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.orDie
        )

      const markSent = (n: string, instanceId: string, agentSeq: string) =>
        sql`UPDATE task_queue
            SET state = 'sent', sent_at = now(), sent_agent_seq = ${agentSeq}::bigint, instance_id = NULL
            WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'sending'`.pipe(
          Effect.asVoid,
          Effect.orDie,
          Effect.withSpan("QueueRepo.markSent")
        )

      const release = (n: string, instanceId: string, outcome: "queued" | "unknown", afterMillis: number) =>
        (outcome === "queued"
          ? sql`UPDATE task_queue
                SET state = 'queued', instance_id = NULL, agent_last_id = NULL,
                    next_attempt_at = now() + make_interval(secs => ${afterMillis / 1000})
                WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'sending'`
          : sql`UPDATE task_queue
                SET instance_id = NULL, next_attempt_at = now() + make_interval(secs => ${afterMillis / 1000})
                WHERE n = ${n}::bigint AND instance_id = ${instanceId} AND state = 'sending'`).pipe(
            Effect.asVoid,
            Effect.orDie
          )

      const changesSince = (taskId: string, afterSeq: number) =>
        sql`SELECT q.seq::text AS seq, q.id, CASE q.state WHEN 'sending' THEN 'queued' ELSE state END AS state
            FROM task_queue q WHERE q.task_id = ${taskId} AND q.seq > ${afterSeq} ORDER BY q.seq`.pipe(
          Effect.map((rows) =>
            decodeChanges(rows).map((row): QueueChange => ({
              seq: Number(row.seq),
              event: { id: row.id, state: row.state }
            }))
          ),
          Effect.orDie
        )

      return QueueRepo.of({ enqueue, pending, cancel, claim, beforeSend, markSent, release, changesSince })
    })
  )
}
