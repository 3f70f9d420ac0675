/**
 * `POST /api/v2/workspaceagents/me/tasks/{task}/log-snapshot?format=agentapi` (spec §7.3). The checks before
 * the body (agent, task id, format, task) are the endpoint's middleware (./UploadGuard.ts); the body is read
 * under the 64 KiB cap and decoded by the framework from the declared payload (src/Api.ts). What is left here
 * are the checks of the decoded payload, the envelope and the store, in Coder's order.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Layer from "effect/Layer"
import { Api } from "../Api.ts"
import { CurrentUploadTask } from "../Domain/Actor.ts"
import type { MessagesPayload } from "../Domain/AgentApi.ts"
import { BadRequest, resourceNotFound } from "../Domain/CoderError.ts"
import * as Metrics from "../Observability/Metrics.ts"
import { checkPayload, toEnvelope } from "./Envelope.ts"
import { SnapshotRepo } from "./SnapshotRepo.ts"

/**
 * The size of the upload's body, for the metrics: its Content-Length, or, for a chunked upload, the JSON
 * the body reader passed on (the body itself unless Go's reading of it changed it).
 */
const bodyBytes = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const declared = request.headers["content-length"]
  if (declared !== undefined && /^\d+$/.test(declared)) return Number(declared)
  return Buffer.byteLength(yield* Effect.orElseSucceed(request.text, () => ""))
})

export const AgentSnapshotsHandlers = HttpApiBuilder.group(
  Api,
  "agentSnapshots",
  Effect.fn(function*(handlers) {
    const snapshots = yield* SnapshotRepo

    /** Checks the payload, wraps it in the envelope and stores it with the server's clock. */
    const postLogSnapshot = Effect.fn("Snapshots.postLogSnapshot")(function*({ payload }: {
      readonly payload: typeof MessagesPayload.Type
    }) {
      const { taskId } = yield* CurrentUploadTask
      const checked = yield* checkPayload(payload).pipe(
        Effect.catchTags({
          PayloadMissingMessages: () =>
            Effect.fail(
              new BadRequest({
                message: "Invalid agentapi payload structure.",
                detail: `Missing required "messages" field.`
              })
            ),
          PayloadNotStorable: (error) =>
            Effect.fail(
              new BadRequest({ message: "Snapshot contains text that cannot be stored.", detail: error.detail })
            )
        })
      )
      const envelope = yield* toEnvelope(checked)
      const capturedAt = new Date(yield* Clock.currentTimeMillis)
      const stored = yield* snapshots.upsert(taskId, envelope, capturedAt)
      if (!stored) return yield* resourceNotFound()
      yield* Metrics.snapshotStored(yield* bodyBytes)
    })

    return handlers.handle("postLogSnapshot", postLogSnapshot)
  })
).pipe(Layer.provide(SnapshotRepo.layer))
