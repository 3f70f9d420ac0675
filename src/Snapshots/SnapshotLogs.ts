/**
 * Reading a stored snapshot back as task logs (spec §7.5), and the role mapping both log paths share.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Message } from "../Domain/AgentApi.ts"
import { formatIssues } from "../Domain/SchemaIssues.ts"
import { AgentApiFormat, StoredEnvelope } from "../Domain/Snapshot.ts"
import type { TaskLogEntry, TaskLogsResponse } from "../Domain/Task.ts"
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
): Effect.Effect<Array<TaskLogEntry>, InvalidRole> => {
  const entries: Array<TaskLogEntry> = []
  for (const message of messages) {
    if (message.role !== "user" && message.role !== "agent") return Effect.fail(new InvalidRole({ role: message.role }))
    entries.push({
      id: message.id,
      content: message.content,
      type: message.role === "user" ? "input" : "output",
      time: message.time
    })
  }
  return Effect.succeed(entries)
}

/** Stored data decodes as Coder decodes it: `{messages: [...]}`, missing or null messages being none. */
const StoredData = Schema.Struct({
  messages: Schema.optionalKey(Schema.NullOr(Schema.Array(Message)))
})

const decodeEnvelope = Schema.decodeUnknownEffect(StoredEnvelope)
const decodeData = Schema.decodeUnknownEffect(StoredData)

const undecodable = (error: Schema.SchemaError) => new SnapshotUndecodable({ detail: formatIssues(error) })

/** The logs response for a task read from its snapshot; no snapshot is an empty log. */
export const logsFromSnapshot = Effect.fnUntraced(function*(
  stored: StoredSnapshot | undefined
): Effect.fn.Return<TaskLogsResponse, SnapshotUndecodable | SnapshotFormatUnsupported | InvalidRole> {
  if (stored === undefined) return { logs: [], snapshot: true }
  const envelope = yield* decodeEnvelope(stored.log_snapshot).pipe(Effect.mapError(undecodable))
  const data = yield* decodeData(envelope.data === undefined || envelope.data === null ? {} : envelope.data).pipe(
    Effect.mapError(undecodable)
  )
  if (envelope.format !== AgentApiFormat) return yield* new SnapshotFormatUnsupported({ format: envelope.format })
  return {
    logs: yield* toLogEntries(data.messages ?? []),
    snapshot: true,
    snapshot_at: stored.log_snapshot_created_at
  }
})
