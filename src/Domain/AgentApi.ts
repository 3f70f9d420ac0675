/**
 * The agentapi wire format (coder/agentapi, as agentapi-sdk-go decodes it). The same codecs serve the
 * upload endpoint, the stored snapshot, the live logs path, the uploader and the import scripts.
 *
 * Decoding follows Go's encoding/json: a missing or null field is the zero value, unknown keys are
 * dropped, and invalid UTF-16 becomes U+FFFD.
 */
import * as Schema from "effect/Schema"
import { Rfc3339String, zeroTime } from "./Time.ts"

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

const zeroDefault = <S extends Schema.Schema.Any>(schema: S, zero: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { nullable: true, default: zero })

export const Role = Schema.String
export const ConversationRole = Schema.Literal("user", "agent")
export type ConversationRole = typeof ConversationRole.Type

/** `agentapisdk.Message`. The role is not checked here: Coder stores any role and rejects it on read. */
export const Message = Schema.Struct({
  content: zeroDefault(GoString, () => ""),
  id: zeroDefault(MessageId, () => 0),
  role: zeroDefault(GoString, () => ""),
  time: zeroDefault(Rfc3339String, () => zeroTime)
}).annotations({ identifier: "AgentApiMessage" })
export type Message = typeof Message.Type

/** `GET /messages` as agentapi answers it, and as the snapshot envelope stores it. */
export const MessagesResponse = Schema.Struct({
  $schema: Schema.optionalWith(GoString, { exact: true }),
  messages: Schema.Array(Message)
}).annotations({ identifier: "AgentApiMessages" })
export type MessagesResponse = typeof MessagesResponse.Type

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
