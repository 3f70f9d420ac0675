/**
 * The agent-side uploader's trimming policy (spec §7.6, `agentapi-shutdown.sh`), as a pure function so
 * that the uploader and the importer send and store the same thing.
 */
import * as Option from "effect/Option"
import type { Message, MessagesResponse } from "../Domain/AgentApi.ts"

/** At most this many messages are kept: the last ones. */
export const maxMessages = 10
/** The payload, as JSON text, may not be larger than this many bytes (the upload endpoint's cap). */
export const maxPayloadBytes = 65_536
/** When one message is left, its content keeps at most this many characters, from its end. */
export const maxMessageContent = 57_344
/** What precedes a truncated content. */
export const truncatedPrefix = "[...content truncated, showing last 56KB...]\n\n"

/** The size of the payload as the uploader measures it: the UTF-8 bytes of its JSON. */
export const payloadBytes = (payload: MessagesResponse): number => Buffer.byteLength(JSON.stringify(payload), "utf8")

/** The last `n` characters (code points, as jq counts them) of `text`. */
const tailCodePoints = (text: string, n: number): string => {
  // Fast path: fewer UTF-16 units than n means fewer code points too.
  if (text.length <= n) return text
  let start = text.length
  for (let kept = 0; kept < n && start > 0; kept++) {
    const low = text.charCodeAt(start - 1)
    const high = start >= 2 ? text.charCodeAt(start - 2) : 0
    start -= low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? 2 : 1
  }
  return text.slice(start)
}

const withMessages = (payload: MessagesResponse, messages: ReadonlyArray<Message>): MessagesResponse =>
  payload.$schema === undefined ? { messages } : { $schema: payload.$schema, messages }

/**
 * Trims a payload as the uploader does: keep the last 10 messages; while the JSON is over 64 KiB drop the
 * oldest; when one message is left keep the tail of its content (56 KiB of characters) behind a marker.
 * `None` when even that does not fit (the uploader then gives up). A payload within the policy is
 * returned unchanged (the same object).
 */
export const trimMessages = (payload: MessagesResponse): Option.Option<MessagesResponse> => {
  let current = payload.messages.length > maxMessages
    ? withMessages(payload, payload.messages.slice(-maxMessages))
    : payload
  while (payloadBytes(current) > maxPayloadBytes) {
    if (current.messages.length > 1) {
      current = withMessages(current, current.messages.slice(1))
      continue
    }
    const [only] = current.messages
    if (only === undefined) return Option.none()
    const truncated = withMessages(current, [{
      ...only,
      content: truncatedPrefix + tailCodePoints(only.content, maxMessageContent)
    }])
    return payloadBytes(truncated) > maxPayloadBytes ? Option.none() : Option.some(truncated)
  }
  return Option.some(current)
}
