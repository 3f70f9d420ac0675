/**
 * From an uploaded agentapi payload to the stored envelope, through the Schema codecs only.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { MessagesPayload, type MessagesResponse } from "../Domain/AgentApi.ts"
import { goShape } from "../Domain/GoJson.ts"
import { formatIssues } from "../Domain/SchemaIssues.ts"
import { AgentApiFormat, SnapshotEnvelope } from "../Domain/Snapshot.ts"

/** The payload does not decode as agentapi's `GET /messages` response. */
export class PayloadUndecodable extends Data.TaggedError("PayloadUndecodable")<{ readonly detail: string }> {}

/** `messages` is absent or null. */
export class PayloadMissingMessages extends Data.TaggedError("PayloadMissingMessages")<{}> {}

/** The payload holds text that Postgres jsonb cannot store (NUL). */
export class PayloadNotStorable extends Data.TaggedError("PayloadNotStorable")<{ readonly detail: string }> {}

// Synchronous codecs: uploads are hot, and these never need an Effect to run.
const decodePayload = Schema.decodeUnknownResult(MessagesPayload)
const decodeOptions = { errors: "all", reportInput: true } as const
const encodeEnvelope = Schema.encodeResult(SnapshotEnvelope)

const hasNul = (value: string | undefined) => value !== undefined && value.includes("\u0000")

/** What jsonb would refuse, so the client gets a clear 400 instead of a failed insert. */
const notStorable = (payload: MessagesResponse): PayloadNotStorable | undefined => {
  if (hasNul(payload.$schema)) {
    return new PayloadNotStorable({ detail: `"$schema" contains a NUL character (\\u0000).` })
  }
  const index = payload.messages.findIndex((m) => hasNul(m.content) || hasNul(m.role))
  return index === -1 ? undefined : new PayloadNotStorable({
    detail: `messages[${index}] contains a NUL character (\\u0000), which PostgreSQL cannot store in jsonb.`
  })
}

/** Decodes, or says why not; a value nested deeply enough to exhaust the stack is refused as such. */
const decode = (json: unknown): Result.Result<typeof MessagesPayload.Type, PayloadUndecodable> => {
  try {
    // Go decodes a JSON null into a struct as "nothing set".
    const decoded = decodePayload(goShape(json === null ? {} : json, MessagesPayload.ast), decodeOptions)
    return Result.isSuccess(decoded)
      ? Result.succeed(decoded.success)
      : Result.fail(new PayloadUndecodable({ detail: formatIssues(decoded.failure) }))
  } catch {
    // A deeply nested value exhausts the stack of the decoder or of the issue formatter.
    return Result.fail(new PayloadUndecodable({ detail: "the payload is nested too deeply" }))
  }
}

/**
 * A decoded upload payload (as the framework decodes the declared `MessagesPayload`) as it is stored:
 * `messages` must be present, and no text may hold what jsonb refuses.
 */
export const checkPayload = (
  decoded: typeof MessagesPayload.Type
): Effect.Effect<MessagesResponse, PayloadMissingMessages | PayloadNotStorable> => {
  const { $schema, messages } = decoded
  if (messages === undefined) return Effect.fail(new PayloadMissingMessages())
  const payload: MessagesResponse = $schema === undefined ? { messages } : { $schema, messages }
  const refused = notStorable(payload)
  return refused === undefined ? Effect.succeed(payload) : Effect.fail(refused)
}

/** The agentapi payload of a parsed upload body, re-encoded: unknown keys dropped, zero values filled in. */
export const payloadFromUpload = (
  json: unknown
): Effect.Effect<MessagesResponse, PayloadUndecodable | PayloadMissingMessages | PayloadNotStorable> =>
  Effect.suspend(() => {
    const decoded = decode(json)
    return Result.isFailure(decoded)
      ? Effect.fail<PayloadUndecodable | PayloadMissingMessages | PayloadNotStorable>(decoded.failure)
      : checkPayload(decoded.success)
  })

/** The stored form of a payload: `{"format":"agentapi","data":{...}}`. */
export const toEnvelope = (payload: MessagesResponse) =>
  Effect.orDie(Effect.fromResult(encodeEnvelope({ format: AgentApiFormat, data: payload })))
