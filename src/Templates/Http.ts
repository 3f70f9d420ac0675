/**
 * Handlers of the templates group. Creating templates and versions is for owners only; the owner check and
 * the lookup of what the path names run in the endpoints' middleware before the body is read
 * (src/Users/RequireOwner.ts, src/Templates/Params.ts); the handlers get the row as `CurrentOrganization` /
 * `CurrentTemplate`. Listing is for everyone: a member sees the templates of their organizations, which
 * are the ones they can create tasks from.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { Conflict, validationFailed } from "../Domain/CoderError.ts"
import { nameInvalidReason } from "../Domain/Name.ts"
import { CurrentTemplate } from "../Domain/Template.ts"
import { CurrentOrganization } from "../Domain/User.ts"
import { TemplateRepo } from "./TemplateRepo.ts"

export const TemplatesHandlers = HttpApiBuilder.group(
  Api,
  "templates",
  Effect.fn(function*(handlers) {
    const templates = yield* TemplateRepo

    return handlers
      .handle(
        "create",
        Effect.fn("Templates.create")(function*({ payload }) {
          const organization = yield* CurrentOrganization
          const invalidName = nameInvalidReason(payload.name)
          if (invalidName !== undefined) {
            return yield* validationFailed([{
              field: "name",
              detail: `Validation failed for tag "template_name" with value: ${
                JSON.stringify(payload.name)
              }: ${invalidName}`
            }])
          }
          return yield* templates.create({
            id: randomUUID(),
            versionId: randomUUID(),
            organizationId: organization.id,
            name: payload.name,
            displayName: payload.display_name ?? "",
            icon: payload.icon ?? "",
            createdAt: new Date(yield* Clock.currentTimeMillis),
            version: {
              hasAiTask: payload.has_ai_task ?? true,
              appUrl: payload.app_url ?? "",
              agentCommand: payload.agent_command ?? ""
            }
          }).pipe(
            Effect.catchTag(
              "TemplateNameTaken",
              () =>
                Effect.fail(
                  new Conflict({ message: `Template with name ${JSON.stringify(payload.name)} already exists.` })
                )
            )
          )
        })
      )
      .handle(
        "list",
        Effect.fn("Templates.list")(function*() {
          const actor = yield* CurrentUser
          return yield* templates.list({ userId: actor.id, allOrganizations: actor.role === "owner" })
        })
      )
      .handle(
        "createVersion",
        Effect.fn("Templates.createVersion")(function*({ payload }) {
          const template = yield* CurrentTemplate
          return yield* templates.addVersion({
            id: randomUUID(),
            templateId: template.id,
            organizationId: template.organization_id,
            hasAiTask: payload.has_ai_task ?? true,
            appUrl: payload.app_url ?? "",
            agentCommand: payload.agent_command ?? "",
            activate: payload.activate ?? false,
            createdAt: new Date(yield* Clock.currentTimeMillis)
          })
        })
      )
  })
).pipe(Layer.provide(TemplateRepo.layer))
