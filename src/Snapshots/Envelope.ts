/**
 * From an uploaded agentapi payload to the stored envelope, through the Schema codecs only.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { MessagesPayload, type MessagesResponse } from "../Domain/AgentApi.ts"
import { AgentApiFormat, SnapshotEnvelope } from "../Domain/Snapshot.ts"
import { formatIssues } from "../Http/Body.ts"
import { goShape } from "../Http/GoJson.ts"

/** The payload does not decode as agentapi's `GET /messages` response. */
export class PayloadUndecodable extends Data.TaggedError("PayloadUndecodable")<{ readonly detail: string }> {}

/** `messages` is absent or null. */
export class PayloadMissingMessages extends Data.TaggedError("PayloadMissingMessages")<{}> {}

/** The payload holds text that Postgres jsonb cannot store (NUL). */
export class PayloadNotStorable extends Data.TaggedError("PayloadNotStorable")<{ readonly detail: string }> {}

// Synchronous codecs: uploads are hot, and these never need an Effect to run.
const decodePayload = Schema.decodeUnknownEither(MessagesPayload, { errors: "all" })
const encodeEnvelope = Schema.encodeEither(SnapshotEnvelope)

const hasNul = (value: string | undefined) => value !== undefined && value.includes("\u0000")

/** Checks what jsonb would refuse, so the client gets a clear 400 instead of a failed insert. */
const checkStorable = (payload: MessagesResponse) => {
  if (hasNul(payload.$schema)) {
    return Effect.fail(new PayloadNotStorable({ detail: `"$schema" contains a NUL character (\\u0000).` }))
  }
  const index = payload.messages.findIndex((m) => hasNul(m.content) || hasNul(m.role))
  return index === -1
    ? Effect.void
    : Effect.fail(
      new PayloadNotStorable({
        detail: `messages[${index}] contains a NUL character (\\u0000), which PostgreSQL cannot store in jsonb.`
      })
    )
}

/** The agentapi payload of a parsed upload body, re-encoded: unknown keys dropped, zero values filled in. */
export const payloadFromUpload = (json: unknown) =>
  Effect.gen(function*() {
    // Go decodes a JSON null into a struct as "nothing set".
    const decoded = yield* Effect.suspend(() => decodePayload(goShape(json === null ? {} : json, MessagesPayload.ast)))
      .pipe(
        Effect.mapError((error) => new PayloadUndecodable({ detail: formatIssues(error) })),
        // A deeply nested value exhausts the stack of the decoder or of the issue formatter.
        Effect.catchAllDefect(() => new PayloadUndecodable({ detail: "the payload is nested too deeply" }))
      )
    if (decoded.messages === undefined || decoded.messages === null) return yield* new PayloadMissingMessages()
    const payload: MessagesResponse = decoded.$schema === undefined || decoded.$schema === null
      ? { messages: decoded.messages }
      : { $schema: decoded.$schema, messages: decoded.messages }
    yield* checkStorable(payload)
    return payload
  })

/** The stored form of a payload: `{"format":"agentapi","data":{...}}`. */
export const toEnvelope = (payload: MessagesResponse) =>
  Effect.orDie(encodeEnvelope({ format: AgentApiFormat, data: payload }))
