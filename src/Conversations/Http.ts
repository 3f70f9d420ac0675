/**
 * Handlers of taskd's conversation endpoints (src/Api.ts ConversationsGroup): the recorded history of a
 * task, its event stream, and the stream of every task a caller may see. The `{user}/{task}` endpoints get
 * their task from the TaskParam middleware, with the same access rules and 404s as `GET` of the task.
 */
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Layer from "effect/Layer"
import { Api } from "../Api.ts"
import { CurrentUser } from "../Domain/Actor.ts"
import { BadRequest } from "../Domain/CoderError.ts"
import type { MessagesPage } from "../Domain/Conversation.ts"
import { CurrentTask } from "../Domain/Task.ts"
import { Lifecycle } from "../Health/Lifecycle.ts"
import { parseTaskSearch } from "../Tasks/SearchQuery.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { UserRepo } from "../Users/UserRepo.ts"
import { ConversationRepo } from "./ConversationRepo.ts"
import { eventStreamResponse } from "./EventStream.ts"
import { parseMessagesQuery } from "./MessagesQuery.ts"
import { StreamLimits } from "./StreamLimits.ts"
import { makeTasksStream } from "./TasksStream.ts"
import { makeTaskStream } from "./TaskStream.ts"

const searchPairs = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://taskd").searchParams

export const ConversationsHandlers = HttpApiBuilder.group(
  Api,
  "conversations",
  Effect.fn(function*(handlers) {
    const conversations = yield* ConversationRepo
    const limits = yield* StreamLimits
    const lifecycle = yield* Lifecycle
    const openTaskStream = yield* makeTaskStream
    const openTasksStream = yield* makeTasksStream
    const services = yield* Effect.context<UserRepo>()

    /** A page of the recorded history, whatever the task's status. */
    const messages = Effect.fn("Conversations.messages")(function*({ request }: {
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const task = yield* CurrentTask
      const { query, validations } = parseMessagesQuery(searchPairs(request))
      if (validations.length > 0) {
        return yield* new BadRequest({ message: "Invalid query parameters.", validations })
      }
      const page = yield* conversations.page(task.id, query.afterId, query.limit)
      const last = page.messages.at(-1)
      const result: MessagesPage = page.more && last !== undefined
        ? { messages: page.messages, next_after_id: last.id }
        : { messages: page.messages }
      return result
    })

    /**
     * The task's event stream (./TaskStream.ts). The stream's slot among the user's and its subscription
     * belong to the request's scope, which lasts until the response's last byte.
     */
    const taskEvents = Effect.fn("Conversations.taskEvents")(function*({ headers }: {
      readonly headers: { readonly "last-event-id"?: string | undefined }
    }) {
      const actor = yield* CurrentUser
      const task = yield* CurrentTask
      yield* limits.admit(actor.id)
      const frames = yield* openTaskStream(task.id, headers["last-event-id"])
      return eventStreamResponse(frames, { until: lifecycle.whenDraining })
    })

    /** The stream of every task the caller may see that matches `q` (./TasksStream.ts). */
    const tasksEvents = Effect.fn("Conversations.tasksEvents")(function*({ headers, query }: {
      readonly headers: { readonly "last-event-id"?: string | undefined }
      readonly query: { readonly q?: string | undefined }
    }) {
      const actor = yield* CurrentUser
      const { errors, search } = yield* parseTaskSearch(query.q ?? "", actor).pipe(Effect.provideContext(services))
      if (errors.length > 0) {
        return yield* new BadRequest({ message: "Invalid task search query.", validations: errors })
      }
      yield* limits.admit(actor.id)
      const frames = yield* openTasksStream(actor, search, headers["last-event-id"])
      return eventStreamResponse(frames, { until: lifecycle.whenDraining })
    })

    return handlers.handle("messages", messages).handle("taskEvents", taskEvents).handle("tasksEvents", tasksEvents)
  })
).pipe(
  // The ChangeFeed and the Lifecycle are the instance's, provided with the other groups (src/Server.ts).
  Layer.provide(Layer.mergeAll(ConversationRepo.layer, StreamLimits.layer, TaskRepo.layer, UserRepo.layer))
)
