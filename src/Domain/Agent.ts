/**
 * What a workspace agent reads and reports: its manifest, its lifecycle, its app's health and status.
 */
import * as Schema from "effect/Schema"
import { AgentLifecycle, AppHealth, AppStatusState } from "./Task.ts"
import { Timestamp } from "./Time.ts"

export const ManifestApp = Schema.Struct({
  id: Schema.UUID,
  slug: Schema.String,
  url: Schema.String,
  health: AppHealth
}).annotations({ identifier: "WorkspaceAgentManifestApp" })

export const Manifest = Schema.Struct({
  agent_id: Schema.UUID,
  workspace_id: Schema.UUID,
  task_id: Schema.NullOr(Schema.UUID),
  apps: Schema.Array(ManifestApp)
}).annotations({ identifier: "WorkspaceAgentManifest" })
export type Manifest = typeof Manifest.Type

export const ReportLifecycleRequest = Schema.Struct({
  state: AgentLifecycle,
  changed_at: Schema.optional(Timestamp)
}).annotations({ identifier: "PostWorkspaceAgentLifecycleRequest" })

export const AppHealthRequest = Schema.Struct({
  healths: Schema.Record({ key: Schema.String, value: AppHealth })
}).annotations({ identifier: "PostWorkspaceAppHealthsRequest" })

export const AppStatusRequest = Schema.Struct({
  app_slug: Schema.String,
  state: AppStatusState,
  message: Schema.optionalWith(Schema.String, { default: () => "" }),
  uri: Schema.optionalWith(Schema.String, { default: () => "" })
}).annotations({ identifier: "PatchWorkspaceAgentAppStatus" })
