/**
 * Templates and template versions: what a task's workspace is built from.
 */
import * as Schema from "effect/Schema"

export const Template = Schema.Struct({
  id: Schema.UUID,
  organization_id: Schema.UUID,
  name: Schema.String,
  display_name: Schema.String,
  icon: Schema.String,
  active_version_id: Schema.UUID
}).annotations({ identifier: "Template" })
export type Template = typeof Template.Type

export const CreateTemplateRequest = Schema.Struct({
  name: Schema.String,
  display_name: Schema.optional(Schema.String),
  icon: Schema.optional(Schema.String),
  has_ai_task: Schema.optional(Schema.Boolean),
  app_url: Schema.optional(Schema.String),
  agent_command: Schema.optional(Schema.String)
}).annotations({ identifier: "CreateTemplateRequest" })
export type CreateTemplateRequest = typeof CreateTemplateRequest.Type

export const TemplateVersion = Schema.Struct({
  id: Schema.UUID,
  template_id: Schema.UUID,
  has_ai_task: Schema.Boolean
}).annotations({ identifier: "TemplateVersion" })
export type TemplateVersion = typeof TemplateVersion.Type

export const CreateTemplateVersionRequest = Schema.Struct({
  has_ai_task: Schema.optional(Schema.Boolean),
  app_url: Schema.optional(Schema.String),
  agent_command: Schema.optional(Schema.String),
  activate: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "CreateTemplateVersionRequest" })
export type CreateTemplateVersionRequest = typeof CreateTemplateVersionRequest.Type
