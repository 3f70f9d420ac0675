/**
 * What a task log snapshot keeps of a conversation: the policy of Coder's shutdown script
 * (`agentapi-shutdown.sh`, spec §7.6), on the exact bytes that are uploaded.
 *
 * 1. Keep the last 10 messages.
 * 2. While the payload is larger than 64 KiB, drop the oldest message.
 * 3. With one message left and still too large, keep the last 56 KiB characters of its content behind
 *    `truncationPrefix`. If even that is too large (multi-byte or escaped characters), give up.
 */
import * as Schema from "effect/Schema"
import { type Message, MessagesResponse } from "../Domain/AgentApi.ts"
import { maxSnapshotBytes } from "../Domain/Snapshot.ts"

export const maxMessages = 10
/** The largest payload uploaded, which is also the server's cap: 65,536 bytes. */
export const maxPayloadBytes = maxSnapshotBytes
/** How much of a single over-long message is kept, in characters (Unicode code points, as jq counts). */
export const maxContentChars = 57_344
export const truncationPrefix = "[...content truncated, showing last 56KB...]\n\n"

const encode = Schema.encodeSync(MessagesResponse)
const utf8 = new TextEncoder()

/** The JSON text that is uploaded for `payload`: the Schema encoding, through `JSON.stringify`. */
export const encodePayload = (payload: MessagesResponse): string => JSON.stringify(encode(payload))

/** The size in bytes of the uploaded body for `payload`. */
export const payloadBytes = (payload: MessagesResponse): number => utf8.encode(encodePayload(payload)).byteLength

/** The last `max` code points of `text` (never splitting a surrogate pair). */
const tailCodePoints = (text: string, max: number): string => {
  // Fast path: fewer UTF-16 units than the limit means fewer code points too.
  if (text.length <= max) return text
  let start = text.length
  for (let count = 0; count < max && start > 0; count++) {
    const low = text.charCodeAt(start - 1)
    const high = start >= 2 ? text.charCodeAt(start - 2) : 0
    start -= low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? 2 : 1
  }
  return text.slice(start)
}

/** The single message with its content cut to the tail, behind the prefix (always added, as the script does). */
const truncateContent = (message: Message): Message => ({
  ...message,
  content: truncationPrefix + tailCodePoints(message.content, maxContentChars)
})

/**
 * The payload as the snapshot uploads it, or `undefined` when no trimming brings it under 64 KiB.
 * `$schema` is kept. An empty conversation is returned unchanged (the uploader skips it before this).
 */
export const trimForSnapshot = (payload: MessagesResponse): MessagesResponse | undefined => {
  let current: MessagesResponse = payload.messages.length > maxMessages
    ? { ...payload, messages: payload.messages.slice(-maxMessages) }
    : payload
  // Dropping messages only ever shortens the payload, so finding the first fitting suffix is enough;
  // sizes are measured on the real encoding every time, as the script does.
  while (current.messages.length > 1 && payloadBytes(current) > maxPayloadBytes) {
    current = { ...current, messages: current.messages.slice(1) }
  }
  if (payloadBytes(current) <= maxPayloadBytes) return current
  if (current.messages.length !== 1) return undefined
  const truncated: MessagesResponse = { ...current, messages: [truncateContent(current.messages[0])] }
  return payloadBytes(truncated) <= maxPayloadBytes ? truncated : undefined
}
