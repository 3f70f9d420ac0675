/**
 * Templates and their versions.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import { isUniqueViolation } from "../Database/Errors.ts"
import { Template, TemplateRef, type TemplateVersion } from "../Domain/Template.ts"

export class TemplateNameTaken extends Data.TaggedError("TemplateNameTaken")<{ readonly name: string }> {}

/** A template version with what provisioning needs. */
export const TemplateVersionRow = Schema.Struct({
  id: Schema.String,
  template_id: Schema.String,
  organization_id: Schema.String,
  has_ai_task: Schema.NullOr(Schema.Boolean),
  app_url: Schema.String,
  agent_command: Schema.String
})
export type TemplateVersionRow = typeof TemplateVersionRow.Type

export interface VersionSettings {
  readonly hasAiTask: boolean
  readonly appUrl: string
  readonly agentCommand: string
}

export interface NewTemplate {
  readonly id: string
  readonly versionId: string
  readonly organizationId: string
  readonly name: string
  readonly displayName: string
  readonly icon: string
  readonly createdAt: Date
  readonly version: VersionSettings
}

export interface NewTemplateVersion extends VersionSettings {
  readonly id: string
  readonly templateId: string
  readonly organizationId: string
  readonly activate: boolean
  readonly createdAt: Date
}

export class TemplateRepo extends Context.Service<TemplateRepo, {
  /** Creates a template with its first version, which becomes the active one. */
  readonly create: (template: NewTemplate) => Effect.Effect<Template, TemplateNameTaken>
  readonly findById: (id: string) => Effect.Effect<TemplateRef | undefined>
  /**
   * The templates of the organizations `userId` is a member of (`allOrganizations`: every template), by
   * name (case-insensitively), then organization and id.
   */
  readonly list: (
    viewer: { readonly userId: string; readonly allOrganizations: boolean }
  ) => Effect.Effect<ReadonlyArray<Template>>
  /** Adds a version to a template, making it the active one when asked. */
  readonly addVersion: (version: NewTemplateVersion) => Effect.Effect<TemplateVersion>
  readonly findVersion: (id: string) => Effect.Effect<TemplateVersionRow | undefined>
}>()("taskd/TemplateRepo") {
  static readonly layer = Layer.effect(
    TemplateRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const insertVersion = (
        version: VersionSettings & { id: string; templateId: string; organizationId: string; createdAt: Date }
      ) =>
        sql`INSERT INTO template_versions (id, template_id, organization_id, has_ai_task, app_url, agent_command,
                                           created_at)
            VALUES (${version.id}, ${version.templateId}, ${version.organizationId}, ${version.hasAiTask},
                    ${version.appUrl}, ${version.agentCommand}, ${version.createdAt})`

      const create = (template: NewTemplate): Effect.Effect<Template, TemplateNameTaken> =>
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
          Effect.catchIf(
            isUniqueViolation,
            () => Effect.fail(new TemplateNameTaken({ name: template.name })),
            Effect.die
          ),
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

      const templateById = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: TemplateRef,
        execute: (id) => sql`SELECT id, organization_id FROM templates WHERE id = ${id}`
      })

      const findById = (id: string) => templateById(id).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

      const templatesFor = SqlSchema.findAll({
        Request: Schema.Struct({ userId: Schema.String, allOrganizations: Schema.Boolean }),
        Result: Template,
        execute: ({ allOrganizations, userId }) =>
          sql`SELECT t.id, t.organization_id, t.name, t.display_name, t.icon, t.active_version_id
              FROM templates t
              WHERE t.active_version_id IS NOT NULL
                AND (${allOrganizations} OR t.organization_id IN (
                  SELECT m.organization_id FROM organization_members m WHERE m.user_id = ${userId}))
              ORDER BY lower(t.name), t.organization_id, t.id`
      })

      const list = (viewer: { readonly userId: string; readonly allOrganizations: boolean }) =>
        templatesFor(viewer).pipe(Effect.orDie)

      const addVersion = (version: NewTemplateVersion): Effect.Effect<TemplateVersion> =>
        sql.withTransaction(Effect.gen(function*() {
          yield* insertVersion(version)
          if (version.activate) {
            yield* sql`UPDATE templates SET active_version_id = ${version.id} WHERE id = ${version.templateId}`
          }
        })).pipe(
          Effect.orDie,
          Effect.as({ id: version.id, template_id: version.templateId, has_ai_task: version.hasAiTask })
        )

      const versionById = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: TemplateVersionRow,
        execute: (id) =>
          sql`SELECT id, template_id, organization_id, has_ai_task, app_url, agent_command
              FROM template_versions WHERE id = ${id}`
      })

      const findVersion = (id: string) => versionById(id).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

      return TemplateRepo.of({ create, findById, list, addVersion, findVersion })
    })
  )
}
