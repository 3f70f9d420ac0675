/**
 * `POST /api/v2/workspaceagents/me/tasks/{task}/log-snapshot?format=agentapi` (spec §7.3): checks in
 * Coder's order, the task before any of the body is read, the body capped at 64 KiB while it streams.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { Api } from "../Api.ts"
import { CurrentAgent } from "../Domain/Actor.ts"
import { BadRequest, resourceNotFound } from "../Domain/CoderError.ts"
import { AgentApiFormat, maxSnapshotBytes } from "../Domain/Snapshot.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import { readJson, withBody } from "../Http/Body.ts"
import { edge } from "../Http/Edge.ts"
import { parseQuery } from "../Http/QueryParams.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { payloadFromUpload, type PayloadNotStorable, type PayloadUndecodable, toEnvelope } from "./Envelope.ts"
import { SnapshotRepo } from "./SnapshotRepo.ts"

const undecodable = (detail: string) => new BadRequest({ message: "Failed to decode request payload.", detail })

const refusePayload = {
  PayloadUndecodable: (error: PayloadUndecodable) => undecodable(error.detail),
  PayloadMissingMessages: () =>
    new BadRequest({ message: "Invalid agentapi payload structure.", detail: `Missing required "messages" field.` }),
  PayloadNotStorable: (error: PayloadNotStorable) =>
    new BadRequest({ message: "Snapshot contains text that cannot be stored.", detail: error.detail })
}

export const AgentSnapshotsHandlers = HttpApiBuilder.group(Api, "agentSnapshots", (handlers) =>
  Effect.gen(function*() {
    const tasks = yield* TaskRepo
    const snapshots = yield* SnapshotRepo

    /** Decodes the payload, wraps it in the envelope and stores it with the server's clock. */
    const store = (taskId: string, json: unknown) =>
      Effect.gen(function*() {
        const payload = yield* payloadFromUpload(json).pipe(Effect.catchTags(refusePayload))
        const envelope = yield* toEnvelope(payload)
        const capturedAt = new Date(yield* Clock.currentTimeMillis)
        const stored = yield* snapshots.upsert(taskId, envelope, capturedAt)
        if (!stored) return yield* resourceNotFound()
      })

    return handlers.handleRaw("postLogSnapshot", ({ path, request }) =>
      Effect.gen(function*() {
        const agent = yield* CurrentAgent
        const taskId = parseUuid(path.task)
        if (Either.isLeft(taskId)) {
          return yield* new BadRequest({ message: "Invalid task ID format.", detail: taskId.left })
        }
        const query = parseQuery(request, { known: ["format"], required: ["format"] })
        if (query.validations.length > 0) {
          return yield* new BadRequest({ message: "Invalid query parameters.", validations: query.validations })
        }
        const format = query.values.format!
        if (format !== AgentApiFormat) {
          return yield* new BadRequest({
            message: "Invalid format parameter.",
            detail: `Only "agentapi" format is currently supported, got ${JSON.stringify(format)}.`
          })
        }
        // The task is checked before a byte of the body is read, so unknown tasks cost nothing.
        const task = yield* tasks.findRef(taskId.right)
        if (task === undefined || task.workspace_id !== agent.workspaceId) return yield* resourceNotFound()

        return yield* withBody(
          readJson(request, maxSnapshotBytes),
          (error) => undecodable(error.message),
          (json) => store(task.id, json)
        )
      }).pipe(edge))
  })).pipe(Layer.provide([TaskRepo.Default, SnapshotRepo.Default]))
