/**
 * The recorded conversations and the numbered changes of tasks (sql/0008). Recording goes through the
 * SQL functions of that migration, which decide in one transaction, under the task's stream row lock,
 * which agentapi conversation (epoch) messages belong to and which of them changed; reading is plain
 * indexed queries.
 *
 * SQL errors and undecodable rows are defects here, at the repository's edge.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import type { AgentStatus, ConversationMessage } from "../Domain/Conversation.ts"
import { maxMessageBytes, truncatedMarker } from "../Domain/Conversation.ts"
import type { QueueStateEvent } from "../Domain/Webhook.ts"

/** A message as an agentapi process numbers it. */
export interface AgentMessage {
  /** agentapi's id: 0, 1, 2... within one agent process. */
  readonly id: number
  readonly role: "user" | "agent"
  readonly content: string
  /** RFC 3339, as agentapi wrote it. */
  readonly time: string
}

/**
 * How a batch of messages relates to what is recorded:
 * - `replay`: all the messages of a process, as agentapi replays them on connect;
 * - `live`: messages of the process being followed, in the epoch its replay was recorded in.
 */
export type RecordMode = { readonly _tag: "replay" } | { readonly _tag: "live"; readonly epoch: number }

/** What changed in a task since some change number, in the order of the changes. */
export type Change =
  | { readonly _tag: "message"; readonly seq: number; readonly message: ConversationMessage }
  | { readonly _tag: "agent"; readonly seq: number; readonly status: AgentStatus }
  | { readonly _tag: "task"; readonly seq: number; readonly deleted: boolean }
  | { readonly _tag: "queue"; readonly seq: number; readonly queue: QueueStateEvent }

/** The head of a task's stream: its latest change number and what it is. */
export interface StreamHead {
  readonly taskId: string
  readonly ownerId: string
  readonly organizationId: string
  readonly seq: number
  readonly taskSeq: number
  readonly taskChangeId: number
  readonly changeId: number
  readonly deleted: boolean
  /** The task's status as last announced ("" before the first announcement). */
  readonly status: string
  readonly agentStatus: AgentStatus | null
}

/**
 * What a task's current state consists of, read at once: its head, the number of the agent status's
 * change, and the change number of each recorded message, in the order of their positions. A stream's
 * initial state numbers its events from these (src/Conversations/TaskStream.ts).
 */
export interface StateIndex {
  readonly head: StreamHead
  readonly agentSeq: number
  readonly positions: ReadonlyArray<number>
  readonly seqs: ReadonlyArray<number>
}

/** The largest agentapi id taskd records: a message id beyond it is an agent's bug, not a conversation. */
export const maxAgentMessageId = 2 ** 31 - 1

const encoder = new TextEncoder()

/** The marker `capMessage` appends (truncatedMarker), to recognise a message cut already. */
const cutMarker = /\n\[taskd: message truncated, it was \d+ bytes; the first \d+ are kept\]$/

/**
 * Cuts a message over `maxMessageBytes` (UTF-8) at a character boundary and says so at its end. A message
 * cut already (the recorder cuts what it holds in memory) is left as it is, keeping its original size.
 */
export const capMessage = (content: string): string => {
  // A string of n UTF-16 units is at most 3n bytes: most messages need no encoding to know they fit.
  if (content.length * 3 <= maxMessageBytes) return content
  const bytes = encoder.encode(content)
  if (bytes.length <= maxMessageBytes) return content
  const marker = cutMarker.exec(content)
  if (marker !== null && bytes.length - encoder.encode(marker[0]).length <= maxMessageBytes) return content
  let end = maxMessageBytes
  // Back up to the start of a UTF-8 sequence.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return new TextDecoder().decode(bytes.subarray(0, end)) + truncatedMarker(bytes.length)
}

/**
 * Text Postgres can store: a NUL (which no text column or jsonb string may hold) becomes U+FFFD, as do lone
 * surrogates. An agent's odd output is kept, not a reason for its recording to fail.
 */
export const storableText = (text: string): string =>
  (text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text).toWellFormed()

const toType = (role: string): ConversationMessage["type"] => role === "user" ? "input" : "output"

/** A bigint column: the driver gives a bigint (or a string); every number taskd keeps there is below 2^53. */
const BigIntColumn = Schema.Union([Schema.Number, Schema.String, Schema.BigInt])

const MessageRow = Schema.Struct({
  position: BigIntColumn,
  role: Schema.String,
  content: Schema.String,
  agent_time: Schema.String,
  seq: BigIntColumn
})
const decodeMessageRows = Schema.decodeUnknownSync(Schema.Array(MessageRow))

const HeadRow = Schema.Struct({
  task_id: Schema.String,
  owner_id: Schema.String,
  organization_id: Schema.String,
  seq: BigIntColumn,
  task_seq: BigIntColumn,
  task_change_id: BigIntColumn,
  change_id: BigIntColumn,
  deleted: Schema.Boolean,
  task_fingerprint: Schema.String,
  agent_status: Schema.NullOr(Schema.String)
})
const decodeHeadRows = Schema.decodeUnknownSync(Schema.Array(HeadRow))
const decodeIndexRows = Schema.decodeUnknownSync(Schema.Array(Schema.Struct({
  ...HeadRow.fields,
  agent_seq: BigIntColumn,
  messages: Schema.NullOr(Schema.String)
})))

const ChangeRow = Schema.Struct({
  kind: Schema.Literals(["message", "agent", "task", "queue"]),
  seq: BigIntColumn,
  position: Schema.NullOr(BigIntColumn),
  role: Schema.NullOr(Schema.String),
  content: Schema.NullOr(Schema.String),
  agent_time: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.String),
  deleted: Schema.NullOr(Schema.Boolean),
  queue_id: Schema.NullOr(Schema.String),
  queue_state: Schema.NullOr(Schema.String)
})
const decodeChangeRows = Schema.decodeUnknownSync(Schema.Array(ChangeRow))

const num = (value: number | string | bigint): number => typeof value === "number" ? value : Number(value)

const agentStatusOf = (value: string | null): AgentStatus | null =>
  value === "running" || value === "stable" ? value : null

const toMessage = (row: typeof MessageRow.Type): ConversationMessage => ({
  id: num(row.position),
  type: toType(row.role),
  content: row.content,
  time: row.agent_time
})

const toHead = (row: typeof HeadRow.Type): StreamHead => ({
  taskId: row.task_id,
  ownerId: row.owner_id,
  organizationId: row.organization_id,
  seq: num(row.seq),
  taskSeq: num(row.task_seq),
  taskChangeId: num(row.task_change_id),
  changeId: num(row.change_id),
  deleted: row.deleted,
  status: row.task_fingerprint.split("\u001f")[0] ?? "",
  agentStatus: agentStatusOf(row.agent_status)
})

const headColumns = (sql: SqlClient.SqlClient) =>
  sql`task_id, owner_id, organization_id, seq, task_seq, task_change_id, change_id, deleted, task_fingerprint,
      agent_status`

export class ConversationRepo extends Context.Service<ConversationRepo, {
  /**
   * Records messages of one agentapi process (ids unique); answers the epoch they went to, or undefined
   * when the task has no stream (it never existed).
   */
  readonly record: (
    taskId: string,
    messages: ReadonlyArray<AgentMessage>,
    mode: RecordMode,
    at: Date
  ) => Effect.Effect<number | undefined>
  /** Keeps the agent's status; answers whether it changed. */
  readonly recordAgentStatus: (taskId: string, status: AgentStatus) => Effect.Effect<boolean>
  /** Up to `limit` messages after position `afterId`, oldest first, and whether more follow. */
  readonly page: (
    taskId: string,
    afterId: number,
    limit: number
  ) => Effect.Effect<{ readonly messages: ReadonlyArray<ConversationMessage>; readonly more: boolean }>
  /** The head of a task's stream. */
  readonly head: (taskId: string) => Effect.Effect<StreamHead | undefined>
  /** The heads of the streams of these tasks (those that have one), in no particular order. */
  readonly heads: (taskIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<StreamHead>>
  /** The task's head and the change numbers of its messages, in one consistent read. */
  readonly stateIndex: (taskId: string) => Effect.Effect<StateIndex | undefined>
  /** The task's queued messages not yet sent (`POST .../queue`), in order, with their change numbers. */
  readonly pendingQueue: (
    taskId: string
  ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly seq: number }>>
  /** Every change of the task numbered above `afterSeq`, in one consistent read, ordered by number. */
  readonly changesSince: (taskId: string, afterSeq: number) => Effect.Effect<ReadonlyArray<Change>>
  /** The heads of the tasks changed since the global change number `afterChangeId`, oldest change first. */
  readonly changedSince: (afterChangeId: number, limit: number) => Effect.Effect<ReadonlyArray<StreamHead>>
  /** The heads of the tasks whose own state (not messages) changed after `afterChangeId`. */
  readonly taskStateChangedSince: (afterChangeId: number) => Effect.Effect<ReadonlyArray<StreamHead>>
  /** The highest global change number given so far. */
  readonly latestChangeId: Effect.Effect<number>
}>()("taskd/ConversationRepo") {
  static readonly make = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const record = (taskId: string, messages: ReadonlyArray<AgentMessage>, mode: RecordMode, at: Date) => {
      const json = JSON.stringify(
        messages.map((message) => ({
          id: message.id,
          role: message.role,
          content: storableText(capMessage(message.content)),
          time: storableText(message.time)
        }))
      )
      const epoch = mode._tag === "live" ? mode.epoch : null
      return sql<{ epoch: number | null }>`
        SELECT taskd_record_messages(${taskId}, ${json}::jsonb, ${mode._tag}, ${epoch}, ${at}) AS epoch`.pipe(
        Effect.map((rows) => rows[0]?.epoch ?? undefined),
        Effect.orDie
      )
    }

    const recordAgentStatus = (taskId: string, status: AgentStatus) =>
      sql<{ changed: boolean }>`SELECT taskd_record_agent_status(${taskId}, ${status}) AS changed`.pipe(
        Effect.map((rows) => rows[0]?.changed === true),
        Effect.orDie
      )

    const page = (taskId: string, afterId: number, limit: number) =>
      sql`SELECT position, role, content, agent_time, seq FROM task_messages
          WHERE task_id = ${taskId} AND position > ${afterId}
          ORDER BY position LIMIT ${limit + 1}`.pipe(
        Effect.map((rows) => decodeMessageRows(rows)),
        Effect.map((rows) => ({ messages: rows.slice(0, limit).map(toMessage), more: rows.length > limit })),
        Effect.orDie
      )

    const head = (taskId: string) =>
      sql`SELECT ${headColumns(sql)} FROM task_streams WHERE task_id = ${taskId}`.pipe(
        Effect.map((rows) => decodeHeadRows(rows).map(toHead)[0]),
        Effect.orDie
      )

    const heads = (taskIds: ReadonlyArray<string>) =>
      taskIds.length === 0
        ? Effect.succeed([])
        : sql`SELECT ${headColumns(sql)} FROM task_streams WHERE task_id IN ${sql.in(taskIds)}`.pipe(
          Effect.map((rows) => decodeHeadRows(rows).map(toHead)),
          Effect.orDie
        )

    // One statement, so one snapshot. The messages' numbers come as one text ("position:seq,..."): a
    // history of 100,000 messages is one row, not 100,000.
    const stateIndex = (taskId: string) =>
      sql`SELECT ${headColumns(sql)}, agent_seq,
            (SELECT string_agg(m.position || ':' || m.seq, ',' ORDER BY m.position)
             FROM task_messages m WHERE m.task_id = s.task_id) AS messages
          FROM task_streams s WHERE s.task_id = ${taskId}`.pipe(
        Effect.map((rows) => {
          const row = decodeIndexRows(rows)[0]
          if (row === undefined) return undefined
          const positions: Array<number> = []
          const seqs: Array<number> = []
          for (const pair of row.messages === null || row.messages === "" ? [] : row.messages.split(",")) {
            const colon = pair.indexOf(":")
            positions.push(Number(pair.slice(0, colon)))
            seqs.push(Number(pair.slice(colon + 1)))
          }
          const index: StateIndex = { head: toHead(row), agentSeq: num(row.agent_seq), positions, seqs }
          return index
        }),
        Effect.orDie
      )

    // One statement, so one snapshot: a change that commits while it runs is either all in or all out.
    const changesSince = (taskId: string, afterSeq: number) =>
      sql`
        SELECT 'message' AS kind, m.seq, m.position, m.role, m.content, m.agent_time, NULL AS status,
               NULL::boolean AS deleted, NULL::text AS queue_id, NULL::text AS queue_state
        FROM task_messages m WHERE m.task_id = ${taskId} AND m.seq > ${afterSeq}
        UNION ALL
        SELECT 'agent', s.agent_seq, NULL, NULL, NULL, NULL, s.agent_status, NULL, NULL, NULL
        FROM task_streams s WHERE s.task_id = ${taskId} AND s.agent_seq > ${afterSeq} AND s.agent_status IS NOT NULL
        UNION ALL
        SELECT 'task', s.task_seq, NULL, NULL, NULL, NULL, NULL, s.deleted, NULL, NULL
        FROM task_streams s WHERE s.task_id = ${taskId} AND s.task_seq > ${afterSeq}
        UNION ALL
        SELECT 'queue', q.seq, NULL, NULL, NULL, NULL, NULL, NULL, q.id::text, taskd_queue_announced(q.state)
        FROM task_queue q WHERE q.task_id = ${taskId} AND q.seq > ${afterSeq}
        ORDER BY seq`.pipe(
        Effect.map((rows) =>
          decodeChangeRows(rows).flatMap((row): Array<Change> => {
            const seq = num(row.seq)
            switch (row.kind) {
              case "message":
                return [{
                  _tag: "message",
                  seq,
                  message: {
                    id: num(row.position ?? 0),
                    type: toType(row.role ?? ""),
                    content: row.content ?? "",
                    time: row.agent_time ?? ""
                  }
                }]
              case "agent": {
                const status = agentStatusOf(row.status)
                return status === null ? [] : [{ _tag: "agent", seq, status }]
              }
              case "task":
                return [{ _tag: "task", seq, deleted: row.deleted === true }]
              case "queue": {
                const state = row.queue_state
                return row.queue_id !== null && (state === "queued" || state === "sent" || state === "cancelled")
                  ? [{ _tag: "queue", seq, queue: { id: row.queue_id, state } }]
                  : []
              }
            }
          })
        ),
        Effect.orDie
      )

    const pendingQueue = (taskId: string) =>
      sql<{ id: string; seq: number | string | bigint }>`
        SELECT id::text AS id, seq FROM task_queue
        WHERE task_id = ${taskId} AND state IN ('queued', 'sending') ORDER BY n`.pipe(
        Effect.map((rows) => rows.map((row) => ({ id: row.id, seq: num(row.seq) }))),
        Effect.orDie
      )

    const changedSince = (afterChangeId: number, limit: number) =>
      sql`SELECT ${headColumns(sql)} FROM task_streams WHERE change_id > ${afterChangeId}
          ORDER BY change_id LIMIT ${limit}`.pipe(
        Effect.map((rows) => decodeHeadRows(rows).map(toHead)),
        Effect.orDie
      )

    const taskStateChangedSince = (afterChangeId: number) =>
      sql`SELECT ${headColumns(sql)} FROM task_streams WHERE task_change_id > ${afterChangeId}
          ORDER BY task_change_id`.pipe(
        Effect.map((rows) => decodeHeadRows(rows).map(toHead)),
        Effect.orDie
      )

    const latestChangeId = sql<{ id: number | string | bigint | null }>`SELECT max(change_id) AS id FROM task_streams`
      .pipe(
        Effect.map((rows) => num(rows[0]?.id ?? 0)),
        Effect.orDie
      )

    return ConversationRepo.of({
      record,
      recordAgentStatus,
      page,
      head,
      heads,
      stateIndex,
      changesSince,
      pendingQueue,
      changedSince,
      taskStateChangedSince,
      latestChangeId
    })
  })

  static readonly layer = Layer.effect(ConversationRepo, ConversationRepo.make)
}
