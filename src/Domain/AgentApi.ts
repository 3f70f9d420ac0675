/**
 * The agentapi wire format (coder/agentapi, as agentapi-sdk-go decodes it). The same codecs serve the
 * upload endpoint, the stored snapshot, the live logs path, the uploader and the import scripts.
 *
 * Decoding follows Go's encoding/json: a missing or null field is the zero value, unknown keys are
 * dropped, and invalid UTF-16 becomes U+FFFD.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
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
