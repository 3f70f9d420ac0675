/**
 * The agentapi wire format (coder/agentapi, as agentapi-sdk-go decodes it). The same codecs serve the
 * upload endpoint, the stored snapshot, the live logs path, the uploader and the import scripts.
 *
 * Decoding follows Go's encoding/json: a missing or null field is the zero value, unknown keys are
 * dropped, and invalid UTF-16 becomes U+FFFD.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { nullableWithDefault, optionalNullableKey } from "./Fields.ts"
import { Int64 } from "./Int64.ts"
import { canonicalRfc3339, zeroTime } from "./Time.ts"

/** A string as Go decodes it: lone surrogates are replaced, never stored. */
export const GoString = Schema.String.pipe(
  Schema.decodeTo(
    Schema.String,
    SchemaTransformation.transform({
      decode: (s: string) => s.toWellFormed(),
      encode: (s: string) => s
    })
  )
)

/**
 * Message ids are int64 in Go (agentapi's `Message.Id`), and taskd keeps every int64 exactly: a number
 * while it is a safe integer, a bigint beyond (see ./Int64.ts). Not an integer (1.5, 1e400) is "Expected
 * an integer"; outside int64 is refused with the int64 bounds.
 */
export const MessageId = Int64

/** A message as taskd keeps it: every field present, strings well-formed, the time in Go's form. */
export const StoredMessage = Schema.Struct({
  content: Schema.String,
  id: MessageId,
  role: Schema.String,
  time: Schema.String
}).annotate({ identifier: "AgentApiMessage" })
export type Message = typeof StoredMessage.Type

/** A message as it may arrive: any field missing or null (Go's zero value). */
const IncomingMessage = Schema.Struct({
  content: Schema.optional(Schema.NullOr(Schema.String)),
  id: Schema.optional(Schema.NullOr(MessageId)),
  role: Schema.optional(Schema.NullOr(Schema.String)),
  time: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * `agentapisdk.Message`, decoded as Go decodes it: missing or null fields are zero, strings are made
 * well-formed, the time is checked and written Go's way. The role is not checked here: Coder stores any role
 * and rejects it on read. The normalising is one transformation per message rather than one per field,
 * because uploads are hot.
 */
export const Message = IncomingMessage.pipe(
  Schema.decodeTo(
    // The decoded fields are checked as they are (the id is decoded once, by IncomingMessage).
    Schema.toType(StoredMessage),
    SchemaTransformation.transformEffect({
      decode: (message: typeof IncomingMessage.Type, options) => {
        const time = message.time === undefined || message.time === null
          ? zeroTime
          : canonicalRfc3339(message.time)
        if (time === undefined) {
          return Effect.fail(
            new SchemaIssue.InvalidValue(
              { message: `time: parsing time ${JSON.stringify(message.time)} as RFC 3339` },
              message,
              options
            )
          )
        }
        return Effect.succeed({
          content: (message.content ?? "").toWellFormed(),
          id: message.id ?? 0,
          role: (message.role ?? "").toWellFormed(),
          time
        })
      },
      encode: (message: Message) => Effect.succeed(message)
    })
  )
)

/** `GET /messages` as agentapi answers it, and as the snapshot envelope stores it. */
export const MessagesResponse = Schema.Struct({
  $schema: Schema.optionalKey(GoString),
  messages: Schema.Array(Message)
}).annotate({ identifier: "AgentApiMessages" })
export type MessagesResponse = typeof MessagesResponse.Type

/** A decoded payload as it is stored and sent on: nothing left to normalise, so encoding it is cheap. */
export const StoredMessages = Schema.Struct({
  $schema: Schema.optionalKey(Schema.String),
  messages: Schema.Array(StoredMessage)
}).annotate({ identifier: "AgentApiStoredMessages" })

/**
 * The same payload as it may arrive from a client: `$schema` may be null (Go's nil pointer) and `messages`
 * may be absent or null, which the upload endpoint reports with its own message.
 */
export const MessagesPayload = Schema.Struct({
  $schema: optionalNullableKey(GoString),
  messages: optionalNullableKey(Schema.Array(Message))
})

/** `GET /status`. */
export const StatusResponse = Schema.Struct({
  $schema: Schema.optionalKey(Schema.String),
  status: Schema.String,
  agent_type: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "AgentApiStatus" })
export type StatusResponse = typeof StatusResponse.Type

/** `POST /message` body. */
export const PostMessageRequest = Schema.Struct({
  content: Schema.String,
  type: Schema.Literals(["user", "raw"])
}).annotate({ identifier: "AgentApiPostMessage" })

/** `POST /message` response. Like Go, a missing or null `ok` is false. */
export const PostMessageResponse = Schema.Struct({
  ok: nullableWithDefault(Schema.Boolean, () => false)
}).annotate({ identifier: "AgentApiPostMessageResponse" })
export type PostMessageResponse = typeof PostMessageResponse.Type

/*
 * `GET /events` (coder/agentapi lib/httpapi/events.go, written by huma's sse package): server-sent events,
 * each `event: <name>` and one `data: <JSON>` line, with no `id:` lines. On every connect agentapi replays
 * all messages, then the status, then its recent errors (up to 100); after that each change as it happens.
 * A running agent's last message is sent again, with the same id, each time its text changes.
 *
 * Each codec below decodes an event's data (the JSON, parsed exactly) to a tagged value, as Go would decode
 * it: missing or null fields are zero, strings are made well-formed, times are checked and written Go's way.
 * Encoding gives the data back without its tag.
 */

/** A `time.Time` as Go decodes it (missing or null is the zero time), or the issue Go would report. */
const goTime = (
  time: string | null | undefined,
  input: unknown,
  options: SchemaAST.ParseOptions
): Effect.Effect<string, SchemaIssue.Issue> => {
  const canonical = time === undefined || time === null ? zeroTime : canonicalRfc3339(time)
  return canonical === undefined
    ? Effect.fail(
      new SchemaIssue.InvalidValue(
        { message: `time: parsing time ${JSON.stringify(time)} as RFC 3339` },
        input,
        options
      )
    )
    : Effect.succeed(canonical)
}

const goString = (value: string | null | undefined): string => (value ?? "").toWellFormed()

const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** `message_update` as taskd keeps it: a message, new or with new text (`MessageUpdateBody` in agentapi). */
export const StoredMessageUpdate = Schema.TaggedStruct("MessageUpdate", {
  id: MessageId,
  role: Schema.String,
  message: Schema.String,
  time: Schema.String
}).annotate({ identifier: "AgentApiMessageUpdate" })
export type MessageUpdate = typeof StoredMessageUpdate.Type

const IncomingMessageUpdate = Schema.Struct({
  id: optionalNullable(MessageId),
  role: optionalNullable(Schema.String),
  message: optionalNullable(Schema.String),
  time: optionalNullable(Schema.String)
})

/** `message_update` data `{id, role, message, time}`. The role is any string, as in `Message`. */
export const MessageUpdate = IncomingMessageUpdate.pipe(
  Schema.decodeTo(
    Schema.toType(StoredMessageUpdate),
    SchemaTransformation.transformEffect({
      decode: (body: typeof IncomingMessageUpdate.Type, options) =>
        Effect.map(goTime(body.time, body, options), (time) => ({
          _tag: "MessageUpdate" as const,
          id: body.id ?? 0,
          role: goString(body.role),
          message: goString(body.message),
          time
        })),
      encode: ({ _tag, ...body }: MessageUpdate) => Effect.succeed(body)
    })
  )
)

/**
 * The agent's status. agentapi has exactly these two (`AgentStatus`; `convertStatus` panics on anything
 * else), so any other value is refused rather than passed on to taskd's own wire.
 */
export const AgentStatus = Schema.Literals(["running", "stable"])
export type AgentStatus = typeof AgentStatus.Type

/** `status_change` as taskd keeps it (`StatusChangeBody` in agentapi). */
export const StoredStatusChange = Schema.TaggedStruct("StatusChange", {
  status: AgentStatus,
  agent_type: Schema.String
}).annotate({ identifier: "AgentApiStatusChange" })
export type StatusChange = typeof StoredStatusChange.Type

const IncomingStatusChange = Schema.Struct({
  status: AgentStatus,
  agent_type: optionalNullable(Schema.String)
})

/** `status_change` data `{status, agent_type}`: the status is required, a missing agent type is "". */
export const StatusChange = IncomingStatusChange.pipe(
  Schema.decodeTo(
    Schema.toType(StoredStatusChange),
    SchemaTransformation.transform<StatusChange, typeof IncomingStatusChange.Type>({
      decode: (body) => ({
        _tag: "StatusChange" as const,
        status: body.status,
        agent_type: goString(body.agent_type)
      }),
      encode: ({ _tag, ...body }: StatusChange) => body
    })
  )
)

/** `agent_error` as taskd keeps it (`ErrorBody` in agentapi 0.12+; `level` is "warning" or "error"). */
export const StoredAgentErrorEvent = Schema.TaggedStruct("AgentError", {
  message: Schema.String,
  level: Schema.String,
  time: Schema.String
}).annotate({ identifier: "AgentApiError" })
export type AgentErrorEvent = typeof StoredAgentErrorEvent.Type

const IncomingAgentError = Schema.Struct({
  message: optionalNullable(Schema.String),
  level: optionalNullable(Schema.String),
  time: optionalNullable(Schema.String)
})

/** `agent_error` data `{message, level, time}`. */
export const AgentErrorEvent = IncomingAgentError.pipe(
  Schema.decodeTo(
    Schema.toType(StoredAgentErrorEvent),
    SchemaTransformation.transformEffect({
      decode: (body: typeof IncomingAgentError.Type, options) =>
        Effect.map(goTime(body.time, body, options), (time) => ({
          _tag: "AgentError" as const,
          message: goString(body.message),
          level: goString(body.level),
          time
        })),
      encode: ({ _tag, ...body }: AgentErrorEvent) => Effect.succeed(body)
    })
  )
)

/**
 * An event taskd could not use: data that is not JSON or not the event's shape, an unknown event name, or
 * data over the client's size limit. `event` is the SSE event name ("" when it is not known: an oversize
 * event is dropped before its name is kept); `detail` is one line.
 */
export const MalformedEvent = Schema.TaggedStruct("Malformed", {
  event: Schema.String,
  detail: Schema.String
}).annotate({ identifier: "AgentApiMalformedEvent" })
export type MalformedEvent = typeof MalformedEvent.Type

/** One event of agentapi's `/events` as taskd reads it. */
export const AgentEvent = Schema.Union([StoredMessageUpdate, StoredStatusChange, StoredAgentErrorEvent, MalformedEvent])
export type AgentEvent = typeof AgentEvent.Type

/** The codec of each event's data, by SSE event name. */
export const agentEventData = {
  message_update: MessageUpdate,
  status_change: StatusChange,
  agent_error: AgentErrorEvent
} as const
export type AgentEventName = keyof typeof agentEventData
