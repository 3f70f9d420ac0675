/**
 * The live conversation of a task, as taskd's own endpoints give it (not Coder's): the recorded history
 * (`GET /api/v2/tasks/{user}/{task}/messages`), the task's event stream (`.../events`) and the stream of
 * every task a caller may see (`GET /api/v2/tasks/events`).
 *
 * A message has the shape of Coder's log entry (`type` "input" for the user's messages, "output" for the
 * agent's), but its `id` is taskd's: the message's position in the task's whole history, across every
 * agent process of the task, 1, 2, 3..., stable forever.
 */
import * as Schema from "effect/Schema"
import { Task, TaskLogType } from "./Task.ts"
import { Rfc3339String } from "./Time.ts"
import { Uuid } from "./Uuid.ts"
import { QueueStateEvent } from "./Webhook.ts"

/** A position in a task's history: 1 for its first message. */
export const MessagePosition = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

export const ConversationMessage = Schema.Struct({
  id: MessagePosition,
  type: TaskLogType,
  content: Schema.String,
  time: Rfc3339String
}).annotate({ identifier: "ConversationMessage" })
export type ConversationMessage = typeof ConversationMessage.Type

/** A page of the history, oldest first; `next_after_id` is there when more messages follow. */
export const MessagesPage = Schema.Struct({
  messages: Schema.Array(ConversationMessage),
  next_after_id: Schema.optionalKey(MessagePosition)
}).annotate({ identifier: "MessagesPage" })
export type MessagesPage = typeof MessagesPage.Type

/** The default and the largest page. */
export const defaultMessagesLimit = 100
export const maxMessagesLimit = 1000

/** The agent's status as agentapi reports it: "running" while it works, "stable" when it waits for input. */
export const AgentStatus = Schema.Literals(["running", "stable"])
export type AgentStatus = typeof AgentStatus.Type

export const AgentStatusEvent = Schema.Struct({ status: AgentStatus }).annotate({ identifier: "AgentStatusEvent" })
export const TaskDeletedEvent = Schema.Struct({ id: Uuid }).annotate({ identifier: "TaskDeletedEvent" })
export const OverflowEvent = Schema.Struct({}).annotate({ identifier: "OverflowEvent" })

/**
 * One server-sent event: its name, its `id:` (a number, as a string) and its JSON data. The `id` of an event
 * is a cursor: a client that reconnects with `Last-Event-ID` set to it gets everything that came after.
 */
const sseEvent = <const Name extends string, Data extends Schema.Top>(name: Name, data: Data) =>
  Schema.Struct({
    id: Schema.optional(Schema.String),
    event: Schema.Literal(name),
    data: Schema.fromJsonString(Schema.toCodecJson(data))
  }).annotate({ identifier: `${name}Event` })

export const TaskEvent = sseEvent("task", Task)
export const MessageEvent = sseEvent("message", ConversationMessage)
export const AgentEvent = sseEvent("agent", AgentStatusEvent)
/** A queued message (`POST .../queue`) was queued, sent to the agent, or cancelled. */
export const QueueSseEvent = sseEvent("queue", QueueStateEvent)
export const TaskDeletedSseEvent = sseEvent("task_deleted", TaskDeletedEvent)
export const OverflowSseEvent = sseEvent("overflow", OverflowEvent)

/**
 * The events of one task's stream (`GET /api/v2/tasks/{user}/{task}/events`). `task_deleted` is its last
 * event when the task is deleted: the stream ends after it.
 */
export const TaskStreamEvent = Schema.Union([
  TaskEvent,
  MessageEvent,
  AgentEvent,
  QueueSseEvent,
  TaskDeletedSseEvent,
  OverflowSseEvent
])
export type TaskStreamEvent = typeof TaskStreamEvent.Type

/** The events of the stream of all of a caller's tasks (`GET /api/v2/tasks/events`). */
export const TasksStreamEvent = Schema.Union([TaskEvent, TaskDeletedSseEvent, OverflowSseEvent])
export type TasksStreamEvent = typeof TasksStreamEvent.Type

/** How often a stream sends a comment line, so that proxies keep an idle stream open. */
export const keepAliveSeconds = 15

/** Messages longer than this (in UTF-8 bytes) are stored cut, with `truncatedMarker` appended. */
export const maxMessageBytes = 1024 * 1024

export const truncatedMarker = (originalBytes: number) =>
  `\n[taskd: message truncated, it was ${originalBytes} bytes; the first ${maxMessageBytes} are kept]`
