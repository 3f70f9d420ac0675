/**
 * Templates and template versions: what a task's workspace is built from.
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import { Uuid } from "./Uuid.ts"

export const Template = Schema.Struct({
  id: Uuid,
  organization_id: Uuid,
  name: Schema.String,
  display_name: Schema.String,
  icon: Schema.String,
  active_version_id: Uuid
}).annotate({ identifier: "Template" })
export type Template = typeof Template.Type

export const CreateTemplateRequest = Schema.Struct({
  name: Schema.String,
  display_name: Schema.optional(Schema.String),
  icon: Schema.optional(Schema.String),
  has_ai_task: Schema.optional(Schema.Boolean),
  app_url: Schema.optional(Schema.String),
  agent_command: Schema.optional(Schema.String)
}).annotate({ identifier: "CreateTemplateRequest" })
export type CreateTemplateRequest = typeof CreateTemplateRequest.Type

export const TemplateVersion = Schema.Struct({
  id: Uuid,
  template_id: Uuid,
  has_ai_task: Schema.Boolean
}).annotate({ identifier: "TemplateVersion" })
export type TemplateVersion = typeof TemplateVersion.Type

export const CreateTemplateVersionRequest = Schema.Struct({
  has_ai_task: Schema.optional(Schema.Boolean),
  app_url: Schema.optional(Schema.String),
  agent_command: Schema.optional(Schema.String),
  activate: Schema.optional(Schema.Boolean)
}).annotate({ identifier: "CreateTemplateVersionRequest" })
export type CreateTemplateVersionRequest = typeof CreateTemplateVersionRequest.Type

/** What the API needs of a stored template to add a version to it. */
export const TemplateRef = Schema.Struct({ id: Schema.String, organization_id: Schema.String })
export type TemplateRef = typeof TemplateRef.Type

/**
 * The template a `{template}` path segment names, looked up by the endpoint's middleware (declared in
 * src/Api.ts as `TemplateParam`) before the body is read.
 */
export class CurrentTemplate extends Context.Service<CurrentTemplate, TemplateRef>()("taskd/CurrentTemplate") {}
