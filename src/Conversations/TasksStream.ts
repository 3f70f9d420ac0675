/**
 * The stream of every task a caller may see (`GET /api/v2/tasks/events?q=...`), as frames: a `task`
 * event (the task as `GET` returns it) when one that matches `q` is created or its own state changes
 * (status, current_state, prompt), `task_deleted` when one is deleted. Live only; a client that resumes
 * with `Last-Event-ID: N` first gets every task whose own state changed after global change number N. An
 * event's id is the global number of the task's state change.
 *
 * With a status in `q`, a task that just left that status is sent too (a dashboard of active tasks must
 * learn that one went away), and so is every deletion in scope; on a resume, every task in scope whose
 * state changed is sent whatever its status (which ones the client had is not known here). Clients
 * filter what they get by the task's status.
 *
 * Visibility is the list's: an owner sees every task, a member only their own; `owner:` and
 * `organization:` narrow it.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { UserActor } from "../Domain/Actor.ts"
import type { TaskRow } from "../Domain/Task.ts"
import type { TaskSearch } from "../Tasks/SearchQuery.ts"
import { visibilityOf } from "../Tasks/TaskParam.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { toTask } from "../Tasks/TaskView.ts"
import { ChangeFeed, isKeepAlive } from "./ChangeFeed.ts"
import { ConversationRepo, type StreamHead } from "./ConversationRepo.ts"
import { deletedFrame, type Frame, keepAliveFrame, overflowFrame, parseLastEventId, taskFrame } from "./EventStream.ts"

/** Visibility is checked on the heads (owner); rows are read for any owner. */
const everyone = { userId: "", seesAll: true } as const

const frameOf = (head: StreamHead, row: TaskRow | undefined): Frame =>
  head.deleted || row === undefined
    ? deletedFrame(head.taskChangeId, head.taskId)
    : taskFrame(head.taskChangeId, toTask(row))

export const makeTasksStream = Effect.gen(function*() {
  const feed = yield* ChangeFeed
  const conversations = yield* ConversationRepo
  const tasks = yield* TaskRepo

  /**
   * The frames of the stream of `actor`'s tasks that match `search`, for a client that sent
   * `lastEventId`; the subscription lasts as long as the scope (the request's).
   */
  return Effect.fnUntraced(function*(actor: UserActor, search: TaskSearch, lastEventId: string | undefined) {
    const heads = yield* feed.subscribeHeads()
    const visibility = visibilityOf(actor)
    const inScope = (head: StreamHead) =>
      (visibility.seesAll || head.ownerId === visibility.userId) &&
      (search.ownerId === undefined || head.ownerId === search.ownerId) &&
      (search.organizationId === undefined || head.organizationId === search.organizationId)
    const matches = (status: string | undefined) => search.status === undefined || status === search.status
    // The number of each task's latest state change sent: what the feed repeats, or the resume already
    // covered, is not sent again (a deletion is final).
    const sent = new Map<string, number>()
    const isNew = (head: StreamHead) => head.taskSeq > (sent.get(head.taskId) ?? -1)
    const send = (head: StreamHead, row: TaskRow | undefined) => {
      sent.set(head.taskId, head.deleted || row === undefined ? Number.POSITIVE_INFINITY : head.taskSeq)
      return frameOf(head, row)
    }

    const resumeFrom = parseLastEventId(lastEventId)
    const latest = yield* conversations.latestChangeId
    // The cursor of a client that got nothing yet: a resume from it sends what changed since it subscribed.
    let last: number | undefined = latest
    let replay: ReadonlyArray<Frame> = []
    if (resumeFrom !== undefined && resumeFrom <= latest) {
      last = resumeFrom
      const changed = (yield* conversations.taskStateChangedSince(resumeFrom)).filter(inScope)
      replay = yield* Effect.forEach(
        changed,
        (head) =>
          Effect.map(
            head.deleted ? Effect.succeed(undefined) : tasks.findById(head.taskId, everyone),
            (row) => send(head, row)
          ),
        { concurrency: 4 }
      )
    }

    return Stream.fromIterable(replay).pipe(
      Stream.concat(heads.pipe(
        Stream.filter((change) =>
          isKeepAlive(change) || (
            inScope(change.head) && isNew(change.head) &&
            (change.head.deleted || matches(change.head.status) ||
              (change.previous !== undefined && matches(change.previous.status)))
          )
        ),
        Stream.mapEffect((change) =>
          isKeepAlive(change)
            ? Effect.succeed(keepAliveFrame)
            : Effect.map(change.row, (row) => isNew(change.head) ? send(change.head, row) : undefined)
        ),
        Stream.filter((frame): frame is Frame => frame !== undefined)
      )),
      Stream.map((frame) => {
        if (frame.id !== undefined) last = frame.id
        return frame
      }),
      Stream.catchTag("Overflow", () => Stream.sync(() => overflowFrame(last)))
    )
  })
})
