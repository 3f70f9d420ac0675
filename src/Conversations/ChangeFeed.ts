/**
 * The change feed of this instance: who to tell, and when, that a task changed. One per instance; the
 * event streams (src/Conversations/TaskStream.ts, TasksStream.ts) and the recorder supervisor subscribe
 * to it.
 *
 * The interface (stable):
 * - `poke(taskId)`: this instance just wrote a change of the task (the recorder calls it after each
 *   write); the task's local subscribers are served at once, without waiting for a wake-up from the
 *   database.
 * - `subscribeTask(taskId)`: every change of the task from now on (messages at their new text, the
 *   agent's status, the task's own state with its row), in the order of their numbers, for the life of
 *   the scope. The stream may repeat a change the subscriber already has (a subscriber drops what it
 *   has by `seq`). It fails with `Overflow` when the subscriber falls `TASKD_STREAM_BUFFER` changes
 *   behind; what was buffered is dropped then (the subscriber resumes from the last change it handled).
 * - `subscribeHeads(options?)`: the head of every task whose own state (status, current_state, prompt,
 *   deletion) changed from now on, with the head seen before (undefined: a task created since this
 *   instance started) and its row, read once for every subscriber. Heads of all tasks, whoever owns
 *   them: the subscriber filters. Bounded as above unless `{ unbounded: true }`.
 * - Both streams also carry `keepAliveTick` every TASKD_STREAM_KEEPALIVE, from one timer for all
 *   subscribers: an event stream turns it into a comment line. A timer merged into each subscriber's
 *   stream instead cost every change one more fiber hand-off per subscriber (streams benchmark, 1,000
 *   subscribers on Postgres, two rounds each: p50 74-119 -> 51-55 ms, p99 178-205 -> 104-156 ms, server
 *   CPU 107-109% -> 91-94% of a core).
 *
 * Where wake-ups come from: on Postgres, LISTEN `taskd_task_changes` (sql/0008 notifies the task id when
 * a change commits), and a poll of the global change cursor every second as a backstop (re-reading a
 * window behind it, since sequence values commit out of order). On the embedded PGlite, whose socket
 * server does not deliver notifications, only the poll, every 50 ms while anyone is subscribed. Each
 * wake-up of a task with subscribers is one read of its changes, broadcast to all of them.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { type AgentStatus, type ConversationMessage, keepAliveSeconds } from "../Domain/Conversation.ts"
import type { TaskRow } from "../Domain/Task.ts"
import type { QueueStateEvent } from "../Domain/Webhook.ts"
import { TaskRepo } from "../Tasks/TaskRepo.ts"
import { ConversationRepo, type StreamHead } from "./ConversationRepo.ts"

/** A change of one task, as its subscribers get it. `row` is the task's row after a state change. */
export type TaskChange =
  | { readonly _tag: "message"; readonly seq: number; readonly message: ConversationMessage }
  | { readonly _tag: "agent"; readonly seq: number; readonly status: AgentStatus }
  | { readonly _tag: "task"; readonly seq: number; readonly deleted: boolean; readonly row: TaskRow | undefined }
  | { readonly _tag: "queue"; readonly seq: number; readonly queue: QueueStateEvent }

/** A task whose own state changed. */
export interface HeadChange {
  readonly head: StreamHead
  /** The head this instance saw before; undefined for a task created since it started. */
  readonly previous: StreamHead | undefined
  /** The task's row (any owner's), read on first use and shared; undefined once the task is deleted. */
  readonly row: Effect.Effect<TaskRow | undefined>
}

/** Time for a comment line on an idle stream (see the module's comment). */
export const keepAliveTick = { _tag: "keepAlive" } as const
export type KeepAliveTick = typeof keepAliveTick
export const isKeepAlive = (change: unknown): change is KeepAliveTick => change === keepAliveTick

/** A subscriber fell too far behind: its buffer was full. */
export class Overflow extends Data.TaggedError("Overflow")<{}> {}

export const ChangeFeedConfig = Config.all({
  /** How many changes a subscriber may have waiting before it is dropped with `Overflow`. */
  buffer: Config.Int("TASKD_STREAM_BUFFER").pipe(Config.withDefault(1000)),
  /** How often subscribers get `keepAliveTick` (an event stream's `: keepalive` line). */
  keepAlive: Config.Duration("TASKD_STREAM_KEEPALIVE").pipe(Config.withDefault(Duration.seconds(keepAliveSeconds)))
})

/** The channel sql/0008 notifies. */
export const changesChannel = "taskd_task_changes"

/** How often the cursor is polled on the embedded database while anyone is subscribed. */
const fastPollMillis = 50
/** The backstop poll (Postgres), and the embedded database's poll while nobody is subscribed. */
const slowPollMillis = 1000
/** How far behind the cursor a backstop poll re-reads: a change may commit this long after its number. */
const windowMillis = 10_000
/** Heads read per query. */
const pageSize = 1000
/** Every task, for the reads of the feed itself (subscribers were checked when they subscribed). */
const everyone = { userId: "", seesAll: true } as const

interface Subscriber<A> {
  readonly queue: Queue.Queue<A | KeepAliveTick, Overflow | Cause.Done>
  overflowed: boolean
}

/** The subscribers of one task, and the number of the last change read for them. */
interface Hub {
  readonly taskId: string
  readonly subscribers: Set<Subscriber<TaskChange>>
  lastSeq: number
  reading: boolean
  dirty: boolean
}

const newSubscriber = <A>(capacity: number) =>
  Effect.map(Queue.make<A | KeepAliveTick, Overflow | Cause.Done>({ capacity }), (queue): Subscriber<A> => ({
    queue,
    overflowed: false
  }))

/** Offers `items`; a subscriber whose buffer is full is failed with Overflow and dropped from `from`. */
const offerTo = <A>(subscriber: Subscriber<A>, items: ReadonlyArray<A>, from: Set<Subscriber<A>>) => {
  for (const item of items) {
    if (!Queue.offerUnsafe(subscriber.queue, item)) {
      subscriber.overflowed = true
      Queue.failCauseUnsafe(subscriber.queue, Cause.fail(new Overflow()))
      from.delete(subscriber)
      return
    }
  }
}

/** What a subscriber reads: once it overflowed, what was still buffered is dropped. */
const changesOf = <A>(subscriber: Subscriber<A>): Stream.Stream<A | KeepAliveTick, Overflow> =>
  Stream.fromQueue(subscriber.queue).pipe(Stream.filter(() => !subscriber.overflowed))

/** Monotonic milliseconds: live even under a test's manual clock. */
const nowMillis = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos / 1_000_000n))

export class ChangeFeed extends Context.Service<ChangeFeed, {
  /** This instance wrote a change of the task: its local subscribers are served at once. */
  readonly poke: (taskId: string) => Effect.Effect<void>
  /** Every change of the task from now on, for the life of the scope (see the module's comment). */
  readonly subscribeTask: (taskId: string) => Effect.Effect<
    Stream.Stream<TaskChange | KeepAliveTick, Overflow>,
    never,
    Scope.Scope
  >
  /** Every task whose own state changes from now on, for the life of the scope (see the module's comment). */
  readonly subscribeHeads: (
    options?: { readonly unbounded?: boolean }
  ) => Effect.Effect<Stream.Stream<HeadChange | KeepAliveTick, Overflow>, never, Scope.Scope>
}>()("taskd/ChangeFeed") {
  static readonly make = Effect.gen(function*() {
    const config = yield* ChangeFeedConfig
    const repo = yield* ConversationRepo
    const tasks = yield* TaskRepo
    const sql = yield* SqlClient.SqlClient
    const pg = yield* Effect.serviceOption(PgClient.PgClient)

    const hubs = new Map<string, Hub>()
    const headSubscribers = new Set<Subscriber<HeadChange>>()
    /** The last head seen of every task (all of them: loaded when the feed starts, then kept up). */
    const known = new Map<string, StreamHead>()
    /** Deleted tasks, and when their deletion was seen: forgotten once out of the re-read window. */
    const deletedSeen = new Map<string, number>()
    /** Tasks to read the heads of (notified, or poked). */
    const pending = new Set<string>()
    const wakeup = yield* Queue.sliding<void>(1)
    const ready = yield* Deferred.make<void>()
    /** The global cursor: the highest change number polled so far. */
    let cursor = 0
    /** Below this global number, a task this instance does not know changed before it started. */
    let floor = 0
    /** The cursor as it was at each recent poll: the backstop re-reads from the oldest within the window. */
    const samples: Array<{ readonly at: number; readonly cursor: number }> = []
    /** Whether change numbers commit in order (the embedded database), so a poll needs no window. */
    let ordered = false
    let lastPoll = Number.NEGATIVE_INFINITY

    const signal = Effect.sync(() => Queue.offerUnsafe(wakeup, undefined))
    const anySubscribers = () => hubs.size > 0 || headSubscribers.size > 0

    // -- Per-task fan-out --------------------------------------------------------------------------------

    /** Reads the task's changes since its hub last looked, once, for all its subscribers; again if woken meanwhile. */
    const readHub = (hub: Hub): Effect.Effect<void> =>
      Effect.gen(function*() {
        do {
          hub.dirty = false
          const changes = yield* repo.changesSince(hub.taskId, hub.lastSeq)
          if (changes.length === 0) continue
          const stateChanged = changes.some((change) => change._tag === "task" && !change.deleted)
          const row = stateChanged ? yield* tasks.findById(hub.taskId, everyone) : undefined
          const out = changes.map((change): TaskChange =>
            change._tag === "task" ? { ...change, row: change.deleted ? undefined : row } : change
          )
          hub.lastSeq = Math.max(hub.lastSeq, changes[changes.length - 1]!.seq)
          for (const subscriber of hub.subscribers) offerTo(subscriber, out, hub.subscribers)
        } while (hub.dirty)
      }).pipe(
        // A failed read (the database away) is retried at the next wake-up: the backstop poll finds the
        // task's head beyond the hub's number.
        Effect.catchDefect((defect) => Effect.logWarning("change feed: reading a task's changes failed", defect)),
        Effect.ensuring(Effect.sync(() => {
          hub.reading = false
        }))
      )

    const feedScope = yield* Effect.scope
    const wakeHub = (hub: Hub) => {
      if (hub.reading) {
        hub.dirty = true
        return Effect.void
      }
      hub.reading = true
      return Effect.asVoid(Effect.forkIn(readHub(hub), feedScope))
    }

    // -- Heads ---------------------------------------------------------------------------------------------

    /** Takes in heads just read: remembers them, tells head subscribers of state changes, wakes hubs. */
    const takeHeads = (heads: ReadonlyArray<StreamHead>) =>
      Effect.gen(function*() {
        const now = yield* nowMillis
        const changed: Array<HeadChange> = []
        for (const head of heads) {
          const previous = known.get(head.taskId)
          if (previous === undefined || head.seq > previous.seq) {
            known.set(head.taskId, head)
            if (head.deleted && !deletedSeen.has(head.taskId)) deletedSeen.set(head.taskId, now)
            const stateChanged = previous === undefined ? head.taskChangeId > floor : head.taskSeq > previous.taskSeq
            if (stateChanged && headSubscribers.size > 0) {
              const row = head.deleted ? Effect.succeed(undefined) : yield* Effect.cached(
                tasks.findById(head.taskId, everyone)
              )
              changed.push({ head, previous, row })
            }
          }
          const hub = hubs.get(head.taskId)
          if (hub !== undefined && head.seq > hub.lastSeq) yield* wakeHub(hub)
        }
        changed.sort((a, b) => a.head.taskChangeId - b.head.taskChangeId)
        for (const subscriber of headSubscribers) offerTo(subscriber, changed, headSubscribers)
      })

    /** Reads the heads of the notified and poked tasks that anyone here is waiting for. */
    const readPending = Effect.gen(function*() {
      if (pending.size === 0) return
      const ids = [...pending].filter((id) => headSubscribers.size > 0 || hubs.has(id))
      pending.clear()
      for (let start = 0; start < ids.length; start += pageSize) {
        yield* takeHeads(yield* repo.heads(ids.slice(start, start + pageSize)))
      }
    })

    /**
     * Reads the heads of the tasks changed since `from` (global number), a page at a time, and advances
     * the cursor; without `remember`, only learns them (the feed's start).
     */
    const readSince = (from: number, remember: boolean) =>
      Effect.gen(function*() {
        let after = from
        for (;;) {
          const page = yield* repo.changedSince(after, pageSize)
          if (remember) yield* takeHeads(page)
          else for (const head of page) known.set(head.taskId, head)
          for (const head of page) cursor = Math.max(cursor, head.changeId)
          if (page.length < pageSize) return
          after = page[page.length - 1]!.changeId
        }
      })

    /**
     * One poll. Embedded: from the cursor (PGlite runs one transaction at a time, so numbers commit in
     * order). Postgres: from the cursor as it was a window ago, since a change may commit after changes
     * numbered above it; what was seen already is told apart by the task's own change number.
     */
    const poll = Effect.gen(function*() {
      const now = yield* nowMillis
      while (samples.length > 1 && samples[1]!.at <= now - windowMillis) samples.shift()
      const from = ordered ? cursor : Math.min(samples[0]?.cursor ?? cursor, cursor)
      yield* readSince(from, true)
      samples.push({ at: now, cursor })
      for (const [taskId, seenAt] of deletedSeen) {
        if (seenAt > now - windowMillis) continue
        const head = known.get(taskId)
        if (head !== undefined) floor = Math.max(floor, head.taskChangeId)
        known.delete(taskId)
        deletedSeen.delete(taskId)
      }
    })

    /** The embedded database: PGlite through its socket server (no notifications), or a real Postgres. */
    const isEmbedded = sql<{ version: string }>`SELECT version() AS version`.pipe(
      Effect.map((rows) => (rows[0]?.version ?? "").includes("PGlite")),
      Effect.orDie
    )

    const retryAfterDefect = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        Effect.catchDefect((defect) =>
          Effect.logWarning(`change feed: ${what} failed; retrying in 1 s`, defect).pipe(
            Effect.andThen(Effect.sleep(slowPollMillis))
          )
        )
      )

    /** Listens for notifications while the connection holds; after each (re)connect, polls at once. */
    const listen = (client: PgClient.PgClient) =>
      Effect.scoped(Effect.gen(function*() {
        const notifications = yield* client.listen(changesChannel)
        lastPoll = Number.NEGATIVE_INFINITY
        yield* signal
        for (;;) {
          const batch = yield* Queue.takeAll(notifications)
          for (const notification of batch) pending.add(notification.payload)
          yield* signal
        }
      })).pipe(
        Effect.catch((error) =>
          Effect.logWarning("change feed: LISTEN failed; reconnecting in 1 s", error).pipe(
            Effect.andThen(Effect.sleep(slowPollMillis))
          )
        ),
        Effect.forever
      )

    /** Learns every task's head, so that later heads are told apart as changes; answers whether embedded. */
    const start = Effect.gen(function*() {
      const embedded = yield* isEmbedded
      floor = yield* repo.latestChangeId
      yield* readSince(0, false)
      floor = Math.max(floor, cursor)
      return embedded
    })

    const pump = Effect.gen(function*() {
      let embedded: boolean | undefined
      while (embedded === undefined) {
        embedded = yield* start.pipe(
          Effect.catchDefect((defect) =>
            Effect.logWarning("change feed: could not start; retrying in 1 s", defect).pipe(
              Effect.andThen(Effect.sleep(slowPollMillis)),
              Effect.as(undefined)
            )
          )
        )
      }
      ordered = embedded
      if (!embedded && pg._tag === "Some") yield* Effect.forkIn(listen(pg.value), feedScope)
      yield* Deferred.succeed(ready, undefined)
      const interval = () => embedded && anySubscribers() ? fastPollMillis : slowPollMillis
      for (;;) {
        const wait = lastPoll + interval() - (yield* nowMillis)
        if (pending.size === 0 && wait > 0) yield* Effect.timeoutOption(Queue.take(wakeup), wait)
        yield* retryAfterDefect("reading notified tasks", readPending)
        if ((yield* nowMillis) >= lastPoll + interval()) {
          lastPoll = yield* nowMillis
          yield* retryAfterDefect("polling the change cursor", poll)
        }
      }
    })
    // Wake-ups keep the wall clock's time even where the handlers run on a test clock.
    yield* Effect.forkIn(Effect.provideService(pump, Clock.Clock, Clock.Clock.defaultValue()), feedScope)

    /** One timer for every subscriber; a full buffer skips the tick (that stream is not idle). */
    const tickAll = Effect.sync(() => {
      for (const hub of hubs.values()) {
        for (const subscriber of hub.subscribers) Queue.offerUnsafe(subscriber.queue, keepAliveTick)
      }
      for (const subscriber of headSubscribers) Queue.offerUnsafe(subscriber.queue, keepAliveTick)
    })
    yield* Effect.forkIn(
      Effect.provideService(
        Effect.forever(Effect.andThen(Effect.sleep(config.keepAlive), tickAll)),
        Clock.Clock,
        Clock.Clock.defaultValue()
      ),
      feedScope
    )

    // -- The interface -------------------------------------------------------------------------------------

    const poke = (taskId: string) =>
      Effect.suspend(() => {
        pending.add(taskId)
        return signal
      })

    const subscribeTask = (taskId: string) =>
      Effect.gen(function*() {
        const subscriber = yield* newSubscriber<TaskChange>(config.buffer)
        let hub = hubs.get(taskId)
        if (hub === undefined) {
          const head = yield* repo.head(taskId)
          hub = hubs.get(taskId)
          if (hub === undefined) {
            hub = { taskId, subscribers: new Set(), lastSeq: head?.seq ?? 0, reading: false, dirty: false }
            hubs.set(taskId, hub)
          }
        }
        const joined = hub
        joined.subscribers.add(subscriber)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            joined.subscribers.delete(subscriber)
            if (joined.subscribers.size === 0 && hubs.get(taskId) === joined) hubs.delete(taskId)
          })
        )
        // A change between the head read and joining: read once now (with a fast poll starting, too).
        yield* wakeHub(joined)
        yield* signal
        return changesOf(subscriber)
      })

    const subscribeHeads = (options?: { readonly unbounded?: boolean }) =>
      Effect.gen(function*() {
        // Heads are told apart from what the feed knew when it started: wait until it has started.
        yield* Deferred.await(ready)
        const subscriber = yield* newSubscriber<HeadChange>(
          options?.unbounded === true ? Number.POSITIVE_INFINITY : config.buffer
        )
        headSubscribers.add(subscriber)
        yield* Effect.addFinalizer(() => Effect.sync(() => headSubscribers.delete(subscriber)))
        yield* signal
        return changesOf(subscriber)
      })

    return ChangeFeed.of({ poke, subscribeTask, subscribeHeads })
  })

  /** Needs a SqlClient (a PgClient, to listen on Postgres). */
  static readonly layer = Layer.effect(ChangeFeed, ChangeFeed.make).pipe(
    Layer.provide(Layer.mergeAll(ConversationRepo.layer, TaskRepo.layer))
  )
}
