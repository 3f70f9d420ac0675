/**
 * Reading a stored snapshot back as task logs (spec §7.5), and the role mapping both log paths share.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Message } from "../Domain/AgentApi.ts"
import { AgentApiFormat, StoredEnvelope } from "../Domain/Snapshot.ts"
import type { TaskLogEntry, TaskLogsResponse } from "../Domain/Task.ts"
import { formatIssues } from "../Http/Body.ts"
import type { StoredSnapshot } from "./SnapshotRepo.ts"

/** A message whose role is neither `user` nor `agent`. */
export class InvalidRole extends Data.TaggedError("InvalidRole")<{ readonly role: string }> {
  override get message() {
    return `invalid agentapi message role ${JSON.stringify(this.role)}`
  }
}

export class SnapshotUndecodable extends Data.TaggedError("SnapshotUndecodable")<{ readonly detail: string }> {}
export class SnapshotFormatUnsupported extends Data.TaggedError("SnapshotFormatUnsupported")<{
  readonly format: string
}> {}

/** agentapi messages as task log entries: `user` is input, `agent` is output, order kept. */
export const toLogEntries = (
  messages: ReadonlyArray<Message>
): Effect.Effect<Array<TaskLogEntry>, InvalidRole> =>
  Effect.forEach(messages, (message) =>
    message.role === "user" || message.role === "agent"
      ? Effect.succeed<TaskLogEntry>({
        id: message.id,
        content: message.content,
        type: message.role === "user" ? "input" : "output",
        time: message.time
      })
      : Effect.fail(new InvalidRole({ role: message.role })))

/** Stored data decodes as Coder decodes it: `{messages: [...]}`, missing or null messages being none. */
const StoredData = Schema.Struct({
  messages: Schema.optionalWith(Schema.Array(Message), { nullable: true, default: () => [] })
})

const decodeEnvelope = Schema.decodeUnknown(StoredEnvelope)
const decodeData = Schema.decodeUnknown(StoredData)

/** The logs response for a task read from its snapshot; no snapshot is an empty log. */
export const logsFromSnapshot = (
  stored: StoredSnapshot | undefined
): Effect.Effect<TaskLogsResponse, SnapshotUndecodable | SnapshotFormatUnsupported | InvalidRole> =>
  Effect.gen(function*() {
    if (stored === undefined) return { logs: [], snapshot: true }
    const undecodable = (error: Parameters<typeof formatIssues>[0]) =>
      new SnapshotUndecodable({ detail: formatIssues(error) })
    const envelope = yield* decodeEnvelope(stored.log_snapshot).pipe(Effect.mapError(undecodable))
    const data = yield* decodeData(envelope.data === undefined || envelope.data === null ? {} : envelope.data).pipe(
      Effect.mapError(undecodable)
    )
    if (envelope.format !== AgentApiFormat) return yield* new SnapshotFormatUnsupported({ format: envelope.format })
    return {
      logs: yield* toLogEntries(data.messages),
      snapshot: true,
      snapshot_at: stored.log_snapshot_created_at
    }
  })
