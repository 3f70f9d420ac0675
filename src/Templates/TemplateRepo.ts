/**
 * Templates and their versions.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isUniqueViolation } from "../Database/Errors.ts"
import type { Template, TemplateVersion } from "../Domain/Template.ts"

export class TemplateNameTaken extends Data.TaggedError("TemplateNameTaken")<{ readonly name: string }> {}

/** A template version with what provisioning needs. */
export interface TemplateVersionRow {
  readonly id: string
  readonly template_id: string
  readonly organization_id: string
  readonly has_ai_task: boolean | null
  readonly app_url: string
  readonly agent_command: string
}

export interface VersionSettings {
  readonly hasAiTask: boolean
  readonly appUrl: string
  readonly agentCommand: string
}

export class TemplateRepo extends Effect.Service<TemplateRepo>()("taskd/TemplateRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const insertVersion = (
      version: VersionSettings & { id: string; templateId: string; organizationId: string; createdAt: Date }
    ) =>
      sql`INSERT INTO template_versions (id, template_id, organization_id, has_ai_task, app_url, agent_command, created_at)
          VALUES (${version.id}, ${version.templateId}, ${version.organizationId}, ${version.hasAiTask},
                  ${version.appUrl}, ${version.agentCommand}, ${version.createdAt})`

    /** Creates a template with its first version, which becomes the active one. */
    const create = (template: {
      readonly id: string
      readonly versionId: string
      readonly organizationId: string
      readonly name: string
      readonly displayName: string
      readonly icon: string
      readonly createdAt: Date
      readonly version: VersionSettings
    }): Effect.Effect<Template, TemplateNameTaken> =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO templates (id, organization_id, name, display_name, icon, created_at)
                   VALUES (${template.id}, ${template.organizationId}, ${template.name}, ${template.displayName},
                           ${template.icon}, ${template.createdAt})`
        yield* insertVersion({
          ...template.version,
          id: template.versionId,
          templateId: template.id,
          organizationId: template.organizationId,
          createdAt: template.createdAt
        })
        yield* sql`UPDATE templates SET active_version_id = ${template.versionId} WHERE id = ${template.id}`
      })).pipe(
        Effect.catchIf(isUniqueViolation, () => Effect.fail(new TemplateNameTaken({ name: template.name }))),
        Effect.catchTag("SqlError", Effect.die),
        Effect.as(
          {
            id: template.id,
            organization_id: template.organizationId,
            name: template.name,
            display_name: template.displayName,
            icon: template.icon,
            active_version_id: template.versionId
          } satisfies Template
        )
      )

    const findById = (id: string) =>
      sql<{ id: string; organization_id: string }>`SELECT id, organization_id FROM templates WHERE id = ${id}`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    /** Adds a version to a template, making it the active one when asked. */
    const addVersion = (
      version: VersionSettings & {
        readonly id: string
        readonly templateId: string
        readonly organizationId: string
        readonly activate: boolean
        readonly createdAt: Date
      }
    ): Effect.Effect<TemplateVersion> =>
      sql.withTransaction(Effect.gen(function*() {
        yield* insertVersion(version)
        if (version.activate) {
          yield* sql`UPDATE templates SET active_version_id = ${version.id} WHERE id = ${version.templateId}`
        }
      })).pipe(
        Effect.orDie,
        Effect.as({ id: version.id, template_id: version.templateId, has_ai_task: version.hasAiTask })
      )

    const findVersion = (id: string) =>
      sql<TemplateVersionRow>`SELECT id, template_id, organization_id, has_ai_task, app_url, agent_command
                              FROM template_versions WHERE id = ${id}`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.orDie
      )

    return { create, findById, addVersion, findVersion } as const
  })
}) {}
