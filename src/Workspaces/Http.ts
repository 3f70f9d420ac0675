/**
 * What workspace agents report (agent token): their manifest, lifecycle, app health and app status.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { Api } from "../Api.ts"
import { CurrentAgent } from "../Domain/Actor.ts"
import { BadRequest } from "../Domain/CoderError.ts"
import { AgentRepo } from "./AgentRepo.ts"

export const AgentHandlers = HttpApiBuilder.group(
  Api,
  "agent",
  Effect.fn(function*(handlers) {
    const agents = yield* AgentRepo

    return handlers
      .handle(
        "manifest",
        Effect.fn("Agent.manifest")(function*() {
          const agent = yield* CurrentAgent
          return {
            agent_id: agent.agentId,
            workspace_id: agent.workspaceId,
            task_id: yield* agents.taskOfWorkspace(agent.workspaceId),
            apps: yield* agents.apps(agent.agentId)
          }
        })
      )
      .handle(
        "reportLifecycle",
        Effect.fn("Agent.reportLifecycle")(function*({ payload }) {
          const agent = yield* CurrentAgent
          const at = payload.changed_at ?? new Date(yield* Clock.currentTimeMillis)
          yield* agents.setLifecycle(agent.agentId, payload.state, at)
        })
      )
      .handle(
        "appHealth",
        Effect.fn("Agent.appHealth")(function*({ payload }) {
          const agent = yield* CurrentAgent
          const unknown = yield* agents.setAppHealths(agent.agentId, Object.entries(payload.healths))
          if (unknown !== undefined) {
            return yield* new BadRequest({
              message: "Error setting workspace app health",
              detail: `workspace app ${JSON.stringify(unknown)} is not an app of this agent`
            })
          }
        })
      )
      .handle(
        "appStatus",
        Effect.fn("Agent.appStatus")(function*({ payload }) {
          const agent = yield* CurrentAgent
          const app = (yield* agents.apps(agent.agentId)).find((candidate) => candidate.slug === payload.app_slug)
          if (app === undefined) {
            return yield* new BadRequest({
              message: "Failed to get workspace app.",
              detail: `No app found with slug ${JSON.stringify(payload.app_slug)}`
            })
          }
          yield* agents.insertAppStatus({
            id: randomUUID(),
            createdAt: new Date(yield* Clock.currentTimeMillis),
            workspaceId: agent.workspaceId,
            agentId: agent.agentId,
            appId: app.id,
            state: payload.state,
            message: payload.message,
            uri: payload.uri
          })
        })
      )
  })
).pipe(Layer.provide(AgentRepo.layer))
