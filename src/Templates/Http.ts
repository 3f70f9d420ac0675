/**
 * Handlers of the templates group (owners only).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { BadRequest, Conflict, resourceNotFound } from "../Domain/CoderError.ts"
import { nameInvalidReason } from "../Domain/Name.ts"
import { CreateTemplateRequest, CreateTemplateVersionRequest } from "../Domain/Template.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import { readJsonAs, withBody } from "../Http/Body.ts"
import { edge } from "../Http/Edge.ts"
import { forbidden, invalidJson, validationFailed } from "../Http/Responses.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { TemplateRepo } from "./TemplateRepo.ts"

const requireOwner = Effect.flatMap(CurrentUser, (actor) => actor.role === "owner" ? Effect.void : forbidden())

export const TemplatesHandlers = HttpApiBuilder.group(Api, "templates", (handlers) =>
  Effect.gen(function*() {
    const templates = yield* TemplateRepo
    const users = yield* UserRepo

    return handlers
      .handleRaw("create", ({ path, request }) =>
        Effect.gen(function*() {
          yield* requireOwner
          const organization = yield* users.findOrganization(path.organization)
          if (organization === undefined) {
            return yield* new BadRequest({
              message: `Organization ${JSON.stringify(path.organization)} does not exist.`
            })
          }
          return yield* withBody(readJsonAs(request, CreateTemplateRequest), invalidJson, (body) =>
            Effect.gen(function*() {
              const invalidName = nameInvalidReason(body.name)
              if (invalidName !== undefined) {
                return yield* validationFailed([{
                  field: "name",
                  detail: `Validation failed for tag "template_name" with value: ${
                    JSON.stringify(body.name)
                  }: ${invalidName}`
                }])
              }
              return yield* templates.create({
                id: randomUUID(),
                versionId: randomUUID(),
                organizationId: organization.id,
                name: body.name,
                displayName: body.display_name ?? "",
                icon: body.icon ?? "",
                createdAt: new Date(yield* Clock.currentTimeMillis),
                version: {
                  hasAiTask: body.has_ai_task ?? true,
                  appUrl: body.app_url ?? "",
                  agentCommand: body.agent_command ?? ""
                }
              }).pipe(
                Effect.catchTag(
                  "TemplateNameTaken",
                  () => new Conflict({ message: `Template with name ${JSON.stringify(body.name)} already exists.` })
                )
              )
            }))
        }).pipe(edge))
      .handleRaw("createVersion", ({ path, request }) =>
        Effect.gen(function*() {
          yield* requireOwner
          const template = isCanonicalUuid(path.template)
            ? yield* templates.findById(path.template.toLowerCase())
            : undefined
          if (template === undefined) return yield* resourceNotFound()
          return yield* withBody(readJsonAs(request, CreateTemplateVersionRequest), invalidJson, (body) =>
            Effect.gen(function*() {
              return yield* templates.addVersion({
                id: randomUUID(),
                templateId: template.id,
                organizationId: template.organization_id,
                hasAiTask: body.has_ai_task ?? true,
                appUrl: body.app_url ?? "",
                agentCommand: body.agent_command ?? "",
                activate: body.activate ?? false,
                createdAt: new Date(yield* Clock.currentTimeMillis)
              })
            }))
        }).pipe(edge))
  })).pipe(Layer.provide([TemplateRepo.Default, UserRepo.Default]))
