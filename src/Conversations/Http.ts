/**
 * Handlers of taskd's conversation endpoints (src/Api.ts ConversationsGroup): the recorded history of a
 * task, its event stream, and the stream of every task a caller may see. The `{user}/{task}` endpoints get
 * their task from the TaskParam middleware, with the same access rules and 404s as `GET` of the task.
 */
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Api } from "../Api.ts"
import { BadRequest } from "../Domain/CoderError.ts"
import type { MessagesPage } from "../Domain/Conversation.ts"
import { CurrentTask } from "../Domain/Task.ts"
import { ConversationRepo } from "./ConversationRepo.ts"
import { parseMessagesQuery } from "./MessagesQuery.ts"

const searchPairs = (request: HttpServerRequest.HttpServerRequest) =>
  new URL(request.url, "http://taskd").searchParams

export const ConversationsHandlers = HttpApiBuilder.group(
  Api,
  "conversations",
  Effect.fn(function*(handlers) {
    const conversations = yield* ConversationRepo

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

    // The event streams are built in ./Streams.ts (in progress).
    const taskEvents = Effect.fn("Conversations.taskEvents")(function*() {
      return Stream.empty
    })
    const tasksEvents = Effect.fn("Conversations.tasksEvents")(function*() {
      return Stream.empty
    })

    return handlers.handle("messages", messages).handle("taskEvents", taskEvents).handle("tasksEvents", tasksEvents)
  })
).pipe(Layer.provide(ConversationRepo.layer))
