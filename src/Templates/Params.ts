/**
 * The `{organization}` and `{template}` path middlewares declared in src/Api.ts (OrganizationParam,
 * TemplateParam): the templates endpoints look up what their path names after the owner check and before
 * their body is read, and hand the row to the handler (`CurrentOrganization`, `CurrentTemplate`), so it is
 * looked up once. The framework decodes `params` only after the middlewares: the raw segments are read
 * here (both are plain strings).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import { OrganizationParam, TemplateParam } from "../Api.ts"
import { BadRequest, resourceNotFound } from "../Domain/CoderError.ts"
import { CurrentTemplate } from "../Domain/Template.ts"
import { CurrentOrganization } from "../Domain/User.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { TemplateRepo } from "./TemplateRepo.ts"

/** `{organization}`: its id or name; an unknown one is a 400, as Coder's organization lookup answers. */
export const OrganizationParamLive = Layer.effect(
  OrganizationParam,
  Effect.gen(function*() {
    const users = yield* UserRepo
    return (httpEffect) =>
      Effect.gen(function*() {
        const { organization: param = "" } = yield* HttpRouter.params
        const organization = yield* users.findOrganization(param)
        if (organization === undefined) {
          return yield* new BadRequest({ message: `Organization ${JSON.stringify(param)} does not exist.` })
        }
        return yield* Effect.provideService(httpEffect, CurrentOrganization, organization)
      })
  })
).pipe(Layer.provide(UserRepo.layer))

/** `{template}`: a template id (any case); anything else, or an unknown id, is the standard 404. */
export const TemplateParamLive = Layer.effect(
  TemplateParam,
  Effect.gen(function*() {
    const templates = yield* TemplateRepo
    return (httpEffect) =>
      Effect.gen(function*() {
        const { template: param = "" } = yield* HttpRouter.params
        const template = isCanonicalUuid(param) ? yield* templates.findById(param.toLowerCase()) : undefined
        if (template === undefined) return yield* resourceNotFound()
        return yield* Effect.provideService(httpEffect, CurrentTemplate, template)
      })
  })
).pipe(Layer.provide(TemplateRepo.layer))

/** Both path middlewares of the templates group; needs SqlClient. */
export const layer = Layer.mergeAll(OrganizationParamLive, TemplateParamLive)
