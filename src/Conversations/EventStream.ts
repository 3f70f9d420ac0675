/**
 * The wire of taskd's event streams: each event encoded through its declared schema (src/Domain/
 * Conversation.ts, the same the typed client decodes with) and written by Effect's SSE encoder, comment
 * lines that keep idle streams open, and the `text/event-stream` response around them.
 *
 * The handlers answer with an `HttpServerResponse.stream` of their own, not a Stream of values for the
 * framework to encode: the framework's encoder cannot write comment lines. The declared `StreamSse` still
 * gives the typed client its decoder and the OpenAPI document its description.
 */
import type * as Effect from "effect/Effect"
import * as Sse from "effect/encoding/Sse"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  AgentEvent,
  MessageEvent,
  OverflowSseEvent,
  QueueSseEvent,
  TaskDeletedSseEvent,
  TaskEvent
} from "../Domain/Conversation.ts"
import type { AgentStatus, ConversationMessage } from "../Domain/Conversation.ts"
import type { Task } from "../Domain/Task.ts"
import type { QueueStateEvent } from "../Domain/Webhook.ts"

/** One piece of a stream: a frame, and the cursor a client that received it has (events only). */
export interface Frame {
  /** The frame's bytes, encoded once: a live change goes to every subscriber of its task as these bytes. */
  readonly bytes: Uint8Array
  readonly id: number | undefined
}

const utf8 = new TextEncoder()

const write = (encoded: { readonly id?: string | undefined; readonly event: string; readonly data: string }) =>
  utf8.encode(Sse.encoder.write({ _tag: "Event", id: encoded.id, event: encoded.event, data: encoded.data }))

const encodeTask = Schema.encodeSync(TaskEvent)
const encodeMessage = Schema.encodeSync(MessageEvent)
const encodeAgent = Schema.encodeSync(AgentEvent)
const encodeDeleted = Schema.encodeSync(TaskDeletedSseEvent)
const encodeQueue = Schema.encodeSync(QueueSseEvent)
const encodeOverflow = Schema.encodeSync(OverflowSseEvent)

export const taskFrame = (id: number, task: Task): Frame => ({
  bytes: write(encodeTask({ id: String(id), event: "task", data: task })),
  id
})

export const messageFrame = (id: number, message: ConversationMessage): Frame => ({
  bytes: write(encodeMessage({ id: String(id), event: "message", data: message })),
  id
})

export const agentFrame = (id: number, status: AgentStatus): Frame => ({
  bytes: write(encodeAgent({ id: String(id), event: "agent", data: { status } })),
  id
})

export const queueFrame = (id: number, queue: QueueStateEvent): Frame => ({
  bytes: write(encodeQueue({ id: String(id), event: "queue", data: queue })),
  id
})

export const deletedFrame = (id: number, taskId: string): Frame => ({
  bytes: write(encodeDeleted({ id: String(id), event: "task_deleted", data: { id: taskId } })),
  id
})

/** The last frame of a subscriber that fell behind: `id` is the cursor of what it was sent. */
export const overflowFrame = (id: number | undefined): Frame => ({
  bytes: write(encodeOverflow({ ...(id === undefined ? {} : { id: String(id) }), event: "overflow", data: {} })),
  id
})

/** A comment line: sent when a stream opens, and at each of the change feed's `keepAliveTick`s. */
export const keepAliveFrame: Frame = { bytes: utf8.encode(": keepalive\n\n"), id: undefined }

/**
 * A decimal `Last-Event-ID` (digits only, at most 2^53 - 1), or undefined for anything else: a client
 * that sends what taskd never sent gets the stream as a new client does.
 */
export const parseLastEventId = (header: string | undefined): number | undefined => {
  if (header === undefined || !/^\d{1,16}$/.test(header)) return undefined
  const value = Number(header)
  return Number.isSafeInteger(value) ? value : undefined
}

/**
 * The response: a comment line, then the frames (with the comment lines of the feed's ticks among them),
 * until the frames end or `until` completes (the instance's shutdown begins). The first comment sends the
 * response's headers at once: Node holds them back until the first byte of the body, and a stream of live
 * changes only may have nothing else to send for a long time.
 */
export const eventStreamResponse = <E>(
  frames: Stream.Stream<Frame, E>,
  options: { readonly until: Effect.Effect<void> }
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(
    frames.pipe(
      Stream.prepend([keepAliveFrame]),
      Stream.interruptWhen(options.until),
      Stream.map((frame) => frame.bytes),
      Stream.orDie
    ),
    {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    }
  )
