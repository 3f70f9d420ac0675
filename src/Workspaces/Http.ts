/**
 * What workspace agents report (agent token): their manifest, lifecycle, app health and app status.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { CurrentAgent } from "../Domain/Actor.ts"
import { AppHealthRequest, AppStatusRequest, ReportLifecycleRequest } from "../Domain/Agent.ts"
import { BadRequest } from "../Domain/CoderError.ts"
import { readJsonAs, withBody } from "../Http/Body.ts"
import { edge } from "../Http/Edge.ts"
import { invalidJson } from "../Http/Responses.ts"
import { AgentRepo } from "./AgentRepo.ts"

export const AgentHandlers = HttpApiBuilder.group(Api, "agent", (handlers) =>
  Effect.gen(function*() {
    const agents = yield* AgentRepo

    return handlers
      .handle("manifest", () =>
        Effect.gen(function*() {
          const agent = yield* CurrentAgent
          return {
            agent_id: agent.agentId,
            workspace_id: agent.workspaceId,
            task_id: yield* agents.taskOfWorkspace(agent.workspaceId),
            apps: yield* agents.apps(agent.agentId)
          }
        }).pipe(edge))
      .handleRaw("reportLifecycle", ({ request }) =>
        withBody(readJsonAs(request, ReportLifecycleRequest), invalidJson, (body) =>
          Effect.gen(function*() {
            const agent = yield* CurrentAgent
            const at = body.changed_at ?? new Date(yield* Clock.currentTimeMillis)
            yield* agents.setLifecycle(agent.agentId, body.state, at)
          })).pipe(edge))
      .handleRaw("appHealth", ({ request }) =>
        withBody(readJsonAs(request, AppHealthRequest), invalidJson, (body) =>
          Effect.gen(function*() {
            const agent = yield* CurrentAgent
            const unknown = yield* agents.setAppHealths(agent.agentId, Object.entries(body.healths))
            if (unknown !== undefined) {
              return yield* new BadRequest({
                message: "Error setting workspace app health",
                detail: `workspace app ${JSON.stringify(unknown)} is not an app of this agent`
              })
            }
          })).pipe(edge))
      .handleRaw("appStatus", ({ request }) =>
        withBody(readJsonAs(request, AppStatusRequest), invalidJson, (body) =>
          Effect.gen(function*() {
            const agent = yield* CurrentAgent
            const app = (yield* agents.apps(agent.agentId)).find((candidate) =>
              candidate.slug === body.app_slug
            )
            if (app === undefined) {
              return yield* new BadRequest({
                message: "Failed to get workspace app.",
                detail: `No app found with slug ${JSON.stringify(body.app_slug)}`
              })
            }
            yield* agents.insertAppStatus({
              id: randomUUID(),
              createdAt: new Date(yield* Clock.currentTimeMillis),
              workspaceId: agent.workspaceId,
              agentId: agent.agentId,
              appId: app.id,
              state: body.state,
              message: body.message,
              uri: body.uri
            })
          })).pipe(edge))
  })).pipe(Layer.provide(AgentRepo.Default))
