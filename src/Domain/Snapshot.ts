/**
 * The stored task log snapshot (`task_snapshots.log_snapshot`): Coder's `TaskLogSnapshotEnvelope`.
 */
import * as Schema from "effect/Schema"
import { StoredMessages } from "./AgentApi.ts"
import { nullableWithDefault } from "./Fields.ts"

/** The only format Coder (and taskd) stores. */
export const AgentApiFormat = "agentapi"

/** The envelope as written: the format and the decoded (normalised) agentapi payload. */
export const SnapshotEnvelope = Schema.Struct({
  format: Schema.Literal(AgentApiFormat),
  data: StoredMessages
}).annotate({ identifier: "TaskLogSnapshotEnvelope" })
export type SnapshotEnvelope = typeof SnapshotEnvelope.Type

/**
 * The envelope as read back: any format string, data still undecoded, so that reading can report an
 * unsupported format and malformed data separately, in Coder's order.
 */
export const StoredEnvelope = Schema.Struct({
  format: nullableWithDefault(Schema.String, () => ""),
  data: Schema.optionalKey(Schema.Unknown)
})

/** The largest upload body Coder accepts, and the largest payload the uploader sends. */
export const maxSnapshotBytes = 64 * 1024
