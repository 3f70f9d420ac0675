/**
 * The agentapi wire format (coder/agentapi, as agentapi-sdk-go decodes it). The same codecs serve the
 * upload endpoint, the stored snapshot, the live logs path, the uploader and the import scripts.
 *
 * Decoding follows Go's encoding/json: a missing or null field is the zero value, unknown keys are
 * dropped, and invalid UTF-16 becomes U+FFFD.
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { canonicalRfc3339, zeroTime } from "./Time.ts"

/** A string as Go decodes it: lone surrogates are replaced, never stored. */
export const GoString = Schema.transform(Schema.String, Schema.String, {
  strict: true,
  decode: (s) => s.toWellFormed(),
  encode: (s) => s
})

/** Message ids are int64 in Go; taskd keeps the ids that a JSON number represents exactly. */
export const MessageId = Schema.Int.pipe(
  Schema.between(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, {
    message: () => `message id must be an integer between -(2^53-1) and 2^53-1`
  })
)

/** A message as taskd keeps it: every field present, strings well-formed, the time in Go's form. */
export const StoredMessage = Schema.Struct({
  content: Schema.String,
  id: MessageId,
  role: Schema.String,
  time: Schema.String
}).annotations({ identifier: "AgentApiMessage" })
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
export const Message = Schema.transformOrFail(IncomingMessage, StoredMessage, {
  strict: true,
  decode: (message, _, ast) => {
    const time = message.time === undefined || message.time === null ? zeroTime : canonicalRfc3339(message.time)
    if (time === undefined) {
      return ParseResult.fail(
        new ParseResult.Type(ast, message, `time: parsing time ${JSON.stringify(message.time)} as RFC 3339`)
      )
    }
    return ParseResult.succeed({
      content: (message.content ?? "").toWellFormed(),
      id: message.id ?? 0,
      role: (message.role ?? "").toWellFormed(),
      time
    })
  },
  encode: ParseResult.succeed
})

/** `GET /messages` as agentapi answers it, and as the snapshot envelope stores it. */
export const MessagesResponse = Schema.Struct({
  $schema: Schema.optionalWith(GoString, { exact: true }),
  messages: Schema.Array(Message)
}).annotations({ identifier: "AgentApiMessages" })
export type MessagesResponse = typeof MessagesResponse.Type

/** A decoded payload as it is stored and sent on: nothing left to normalise, so encoding it is cheap. */
export const StoredMessages = Schema.Struct({
  $schema: Schema.optionalWith(Schema.String, { exact: true }),
  messages: Schema.Array(StoredMessage)
}).annotations({ identifier: "AgentApiStoredMessages" })

/**
 * The same payload as it may arrive from a client: `$schema` may be null (Go's nil pointer) and `messages`
 * may be absent or null, which the upload endpoint reports with its own message.
 */
export const MessagesPayload = Schema.Struct({
  $schema: Schema.optionalWith(GoString, { nullable: true, exact: true }),
  messages: Schema.optionalWith(Schema.Array(Message), { nullable: true, exact: true })
})

/** `GET /status`. */
export const StatusResponse = Schema.Struct({
  $schema: Schema.optionalWith(Schema.String, { exact: true }),
  status: Schema.String,
  agent_type: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "AgentApiStatus" })
export type StatusResponse = typeof StatusResponse.Type

/** `POST /message` body. */
export const PostMessageRequest = Schema.Struct({
  content: Schema.String,
  type: Schema.Literal("user", "raw")
}).annotations({ identifier: "AgentApiPostMessage" })

/** `POST /message` response. Like Go, a missing or null `ok` is false. */
export const PostMessageResponse = Schema.Struct({
  ok: Schema.optionalWith(Schema.Boolean, { nullable: true, default: () => false })
}).annotations({ identifier: "AgentApiPostMessageResponse" })
export type PostMessageResponse = typeof PostMessageResponse.Type
