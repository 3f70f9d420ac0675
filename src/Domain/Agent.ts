/**
 * What a workspace agent reads and reports: its manifest, its lifecycle, its app's health and status.
 */
import * as Schema from "effect/Schema"
import { withDefault } from "./Fields.ts"
import { AgentLifecycle, AppHealth, AppStatusState } from "./Task.ts"
import { Timestamp } from "./Time.ts"
import { Uuid } from "./Uuid.ts"

export const ManifestApp = Schema.Struct({
  id: Uuid,
  slug: Schema.String,
  url: Schema.String,
  health: AppHealth
}).annotate({ identifier: "WorkspaceAgentManifestApp" })

export const Manifest = Schema.Struct({
  agent_id: Uuid,
  workspace_id: Uuid,
  task_id: Schema.NullOr(Uuid),
  apps: Schema.Array(ManifestApp)
}).annotate({ identifier: "WorkspaceAgentManifest" })
export type Manifest = typeof Manifest.Type

export const ReportLifecycleRequest = Schema.Struct({
  state: AgentLifecycle,
  changed_at: Schema.optional(Timestamp)
}).annotate({ identifier: "PostWorkspaceAgentLifecycleRequest" })

export const AppHealthRequest = Schema.Struct({
  healths: Schema.Record(Schema.String, AppHealth)
}).annotate({ identifier: "PostWorkspaceAppHealthsRequest" })

export const AppStatusRequest = Schema.Struct({
  app_slug: Schema.String,
  state: AppStatusState,
  message: withDefault(Schema.String, () => ""),
  uri: withDefault(Schema.String, () => "")
}).annotate({ identifier: "PatchWorkspaceAgentAppStatus" })
