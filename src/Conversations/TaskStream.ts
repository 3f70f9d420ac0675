/**
 * The event stream of one task (`GET /api/v2/tasks/{user}/{task}/events`), as frames: first the current
 * state (the task, the agent's status when known, the queued messages not yet sent, then every message in
 * order), or, for a client that resumes with `Last-Event-ID: N`, every change numbered above N; then the
 * live changes.
 *
 * An event's `id` is a cursor: a client that has it has every change numbered up to it. Live and resumed
 * events carry their change's number. The current state is one consistent read of the numbers (the head
 * S0 and each item's latest change); an event of it gets the lowest number of the items still to come,
 * minus one (at most S0), and its last one S0: the ids grow, and resuming from any of them re-sends
 * nothing that was sent, unless it changed meanwhile. The subscription to the live changes is made
 * before anything is read, and live changes numbered up to what the first part covered are dropped, so
 * nothing falls in between.
 *
 * A deleted task's stream ends with `task_deleted`. A subscriber that falls behind gets `overflow` (its
 * `id` the cursor of what it was sent) and the stream ends.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { TaskRow } from "../Domain/Task.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { toTask } from "../Tasks/TaskView.ts"
import { ChangeFeed, isKeepAlive, type TaskChange } from "./ChangeFeed.ts"
import { ConversationRepo, type StateIndex } from "./ConversationRepo.ts"
import {
  agentFrame,
  deletedFrame,
  type Frame,
  keepAliveFrame,
  messageFrame,
  overflowFrame,
  parseLastEventId,
  queueFrame,
  taskFrame
} from "./EventStream.ts"

/** Messages read per query of the first part. */
const pageSize = 500
/** The subscriber was checked when it subscribed (TaskParam); the reads here are of that task only. */
const everyone = { userId: "", seesAll: true } as const

/** A frame, and whether the stream ends after it (the task was deleted). */
interface Item {
  readonly frame: Frame
  readonly end: boolean
}

const item = (frame: Frame): Item => ({ frame, end: false })

const keepAliveItem = item(keepAliveFrame)

/**
 * The frame of a change, or undefined for a state change whose row is gone (its deletion follows). Live
 * changes are the same objects for every subscriber of the task: each is encoded once.
 */
const encoded = new WeakMap<TaskChange, Item | null>()
const changeItem = (taskId: string, change: TaskChange): Item | undefined => {
  const cached = encoded.get(change)
  if (cached !== undefined) return cached ?? undefined
  let result: Item | undefined
  switch (change._tag) {
    case "message":
      result = item(messageFrame(change.seq, change.message))
      break
    case "agent":
      result = item(agentFrame(change.seq, change.status))
      break
    case "queue":
      result = item(queueFrame(change.seq, change.queue))
      break
    case "task":
      result = change.deleted
        ? { frame: deletedFrame(change.seq, taskId), end: true }
        : change.row === undefined
        ? undefined
        : item(taskFrame(change.seq, toTask(change.row)))
  }
  encoded.set(change, result ?? null)
  return result
}

/**
 * The ids of the current state's events: `task`, `agent` (when there is a status) and one per message in
 * `index.positions`. `forMessage(position)` also numbers a message the index does not have (recorded
 * after it): as the items after it.
 */
const dumpIds = (index: StateIndex, queueSeqs: ReadonlyArray<number>) => {
  const s0 = index.head.seq
  const seqs = index.seqs
  // after[i]: the lowest number among the messages from i on.
  const after = new Array<number>(seqs.length + 1)
  after[seqs.length] = Number.POSITIVE_INFINITY
  for (let i = seqs.length - 1; i >= 0; i--) after[i] = Math.min(seqs[i]!, after[i + 1]!)
  const cursorBefore = (next: number) => Math.max(0, Math.min(s0, next - 1))
  const hasAgent = index.head.agentStatus !== null
  // queueAfter[k]: the lowest number among the queued messages from k on and every message.
  const queueAfter = new Array<number>(queueSeqs.length + 1)
  queueAfter[queueSeqs.length] = after[0]!
  for (let k = queueSeqs.length - 1; k >= 0; k--) queueAfter[k] = Math.min(queueSeqs[k]!, queueAfter[k + 1]!)
  let pointer = 0
  return {
    task: cursorBefore(Math.min(hasAgent ? index.agentSeq : Number.POSITIVE_INFINITY, queueAfter[0]!)),
    agent: cursorBefore(queueAfter[0]!),
    /** The k-th queued message. */
    forQueued: (k: number) => cursorBefore(queueAfter[k + 1]!),
    /** Positions come in increasing order. */
    forMessage: (position: number) => {
      while (pointer < index.positions.length && index.positions[pointer]! < position) pointer++
      const found = index.positions[pointer] === position
      return cursorBefore(after[found ? pointer + 1 : pointer]!)
    }
  }
}

export const makeTaskStream = Effect.gen(function*() {
  const feed = yield* ChangeFeed
  const conversations = yield* ConversationRepo
  const tasks = yield* TaskRepo

  const deletedItems = (seq: number, taskId: string) => Stream.make({ frame: deletedFrame(seq, taskId), end: true })

  /** The current state, as of one read of its numbers; and the number it covers. */
  const currentState = (taskId: string) =>
    Effect.gen(function*() {
      const index = yield* conversations.stateIndex(taskId)
      const row: TaskRow | undefined = index === undefined || index.head.deleted
        ? undefined
        : yield* tasks.findById(taskId, everyone)
      if (index === undefined || row === undefined) {
        const seq = index?.head.seq ?? 0
        return { cover: seq, items: deletedItems(seq, taskId) }
      }
      const queued = yield* conversations.pendingQueue(taskId)
      const ids = dumpIds(index, queued.map((entry) => entry.seq))
      const agentStatus = index.head.agentStatus
      const messages = Stream.paginate(
        0,
        (afterId: number) =>
          Effect.map(conversations.page(taskId, afterId, pageSize), (page) => {
            const last = page.messages.at(-1)
            return [
              page.messages.map((message) => item(messageFrame(ids.forMessage(message.id), message))),
              page.more && last !== undefined ? Option.some(last.id) : Option.none()
            ] as const
          })
      )
      const first = [
        item(taskFrame(ids.task, toTask(row))),
        ...(agentStatus === null ? [] : [item(agentFrame(ids.agent, agentStatus))]),
        ...queued.map((entry, k) => item(queueFrame(ids.forQueued(k), { id: entry.id, state: "queued" })))
      ]
      return { cover: index.head.seq, items: Stream.concat(Stream.fromIterable(first), messages) }
    })

  /** Every change numbered above `after`, as one consistent read; and the number it covers. */
  const changesAfter = (taskId: string, after: number) =>
    Effect.gen(function*() {
      const changes = yield* conversations.changesSince(taskId, after)
      const stateChanged = changes.some((change) => change._tag === "task" && !change.deleted)
      const row = stateChanged ? yield* tasks.findById(taskId, everyone) : undefined
      const items = changes.flatMap((change) => {
        const withRow: TaskChange = change._tag === "task" ? { ...change, row } : change
        return changeItem(taskId, withRow) ?? []
      })
      return { cover: Math.max(after, ...changes.map((change) => change.seq)), items: Stream.fromIterable(items) }
    })

  /**
   * The frames of the task's stream for a client that sent `lastEventId`; the subscription lasts as long
   * as the scope (the request's).
   */
  return Effect.fnUntraced(function*(taskId: string, lastEventId: string | undefined) {
    const live = yield* feed.subscribeTask(taskId)
    const resumeFrom = parseLastEventId(lastEventId)
    const head = resumeFrom === undefined ? undefined : yield* conversations.head(taskId)
    const resumes = resumeFrom !== undefined && head !== undefined && resumeFrom <= head.seq
    const first = resumes ? yield* changesAfter(taskId, resumeFrom) : yield* currentState(taskId)
    // The cursor of what was sent, for the `overflow` event.
    let sent: number | undefined = resumes ? resumeFrom : undefined
    return first.items.pipe(
      Stream.concat(live.pipe(
        Stream.filter((change) => isKeepAlive(change) || change.seq > first.cover),
        Stream.map((change) => isKeepAlive(change) ? keepAliveItem : changeItem(taskId, change)),
        Stream.filter((change): change is Item => change !== undefined)
      )),
      Stream.takeUntil((item) => item.end),
      Stream.map((item) => {
        if (item.frame.id !== undefined) sent = item.frame.id
        return item.frame
      }),
      Stream.catchTag("Overflow", () => Stream.sync(() => overflowFrame(sent)))
    )
  })
})
