/**
 * The recorder of one task: follows its agent's event stream (agentapi `GET /events`) and keeps every
 * message and status change in the database (ConversationRepo), for as long as it runs. Whether and where
 * it runs is the RecorderSupervisor's business.
 *
 * agentapi has no event ids: every connection starts with a replay (every message, then the status, then
 * recent errors), then live changes. So each connection records its replay as a whole, and the database
 * decides (sql/0008 taskd_record_messages) whether it continues the conversation recorded so far (a
 * reconnect, or an agent that restored its state) or is a new one (a fresh agent process): the epoch that
 * live changes then go to. A connection that ends or fails is made again with backoff, with a fresh
 * replay. The app URL is read again for each connection: a restarted workspace may have moved it.
 *
 * A flooding agent costs one write at a time: while a write is in flight, later changes are coalesced (the
 * latest text per message id, the latest status) into the next write; past a bound, the event stream is
 * not read until the write is done, so a flood never grows memory.
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { AgentApiClient, type AgentApiError } from "../AgentApi/AgentApiClient.ts"
import type { AgentEvent, MessageUpdate } from "../Domain/AgentApi.ts"
import type { AgentStatus } from "../Domain/Conversation.ts"
import { type AgentMessage, capMessage, ConversationRepo, maxAgentMessageId } from "./ConversationRepo.ts"
import { RecorderRepo } from "./RecorderRepo.ts"

export interface Options {
  /** After every write of the task's conversation: wakes this instance's subscribers of the task. */
  readonly poke: (taskId: string) => Effect.Effect<void>
  /** The time written with each change (`updated_at`). Default: the clock of the fiber. */
  readonly now?: Effect.Effect<Date> | undefined
  /** The first reconnect delay, doubled on each failure in a row up to `maxDelay`, jittered. Default 100 ms. */
  readonly initialDelay?: Duration.Input | undefined
  /** Default 5 s. A connection that lasted this long counts as healthy: the next starts the backoff over. */
  readonly maxDelay?: Duration.Input | undefined
  /** While a write is in flight, the most changed messages kept for the next one. Default 256. */
  readonly maxPendingMessages?: number | undefined
  /** ... and the most text (UTF-16 code units) they may hold together. Default 8 Mi. */
  readonly maxPendingChars?: number | undefined
}

/** Why a connection ended; every end is a reconnect. */
class SessionEnded extends Data.TaggedError("SessionEnded")<{
  /** It stayed connected long enough that the backoff starts over. */
  readonly healthy: boolean
}> {}

/** The task has no usable app URL (yet): nothing to connect to. */
class NoAppUrl extends Data.TaggedError("NoAppUrl")<{ readonly status: string | undefined }> {}

/** The task has no stream row: it is gone. */
class TaskGone extends Data.TaggedError("TaskGone")<{}> {}

/** The conversation recorded is no longer the one followed (another writer opened a new epoch). */
class EpochChanged extends Data.TaggedError("EpochChanged")<{ readonly expected: number; readonly actual: number }> {}

/** The recorder's own failure (the database away, say): logged, then retried like a dropped connection. */
class RecorderDefect extends Data.TaggedError("RecorderDefect")<{ readonly defect: unknown }> {}

type SessionError = SessionEnded | NoAppUrl | TaskGone | EpochChanged | RecorderDefect | AgentApiError

/** A `message_update` as recorded, or undefined when it is not one taskd keeps (unknown role, bad id). */
export const toAgentMessage = (update: MessageUpdate): AgentMessage | undefined => {
  if (update.role !== "user" && update.role !== "agent") return undefined
  if (typeof update.id !== "number" || !Number.isInteger(update.id)) return undefined
  if (update.id < 0 || update.id > maxAgentMessageId) return undefined
  // Cut here already, so that a huge message costs its stored size in memory, not its received one.
  return { id: update.id, role: update.role, content: capMessage(update.message), time: update.time }
}

/** The state of one connection: its replay first, then live changes. */
interface Session {
  phase: "replay" | "live"
  /** The replay so far: the last text per id. */
  readonly replay: Map<number, AgentMessage>
  epoch: number
  /** Live changes not yet written: the latest per id, and the latest status. */
  pending: Map<number, AgentMessage>
  pendingChars: number
  pendingStatus: AgentStatus | undefined
  /** The stream has ended: the writer writes what is pending and stops. */
  ended: boolean
  /** When the replay was recorded (wall clock, ms). */
  liveSince: number | undefined
}

/**
 * Follows the agent of `taskId` until interrupted. Never fails: every failure (a connection refused or
 * dropped, the database away) is retried with backoff. Interrupting it waits for a write in flight.
 */
export const run = (taskId: string, options: Options) =>
  Effect.gen(function*() {
    const conversations = yield* ConversationRepo
    const recorders = yield* RecorderRepo
    const agentApi = yield* AgentApiClient
    const now = options.now ?? Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))
    const initialDelay = Duration.fromInputUnsafe(options.initialDelay ?? Duration.millis(100))
    const maxDelay = Duration.fromInputUnsafe(options.maxDelay ?? Duration.seconds(5))
    const maxPendingMessages = options.maxPendingMessages ?? 256
    const maxPendingChars = options.maxPendingChars ?? 8 * 1024 * 1024
    /** Errors whose agent time is not after this were seen before (a replay repeats them): logged at debug. */
    let errorsSeenUntil = yield* Clock.currentTimeMillis

    const poke = options.poke(taskId)

    /** Takes the live changes pending, as one batch: messages by id, and the status. */
    const takeBatch = (session: Session) => {
      const batch = {
        messages: [...session.pending.values()].sort((a, b) => a.id - b.id),
        status: session.pendingStatus
      }
      session.pending = new Map()
      session.pendingChars = 0
      session.pendingStatus = undefined
      return batch
    }

    /** Writes a batch: messages first (a final text lands before "stable"), then the status. */
    const write = (session: Session, batch: ReturnType<typeof takeBatch>) =>
      Effect.gen(function*() {
        if (batch.messages.length > 0) {
          const epoch = yield* conversations.record(
            taskId,
            batch.messages,
            { _tag: "live", epoch: session.epoch },
            yield* now
          )
          if (epoch !== session.epoch) {
            return yield* new EpochChanged({ expected: session.epoch, actual: epoch ?? 0 })
          }
        }
        if (batch.status !== undefined) yield* conversations.recordAgentStatus(taskId, batch.status)
        yield* poke
      }).pipe(Effect.uninterruptible)

    /** The end of the replay: records it as one batch, then the status; live changes follow. */
    const recordReplay = (session: Session, status: AgentStatus | undefined) =>
      Effect.gen(function*() {
        const messages = [...session.replay.values()].sort((a, b) => a.id - b.id)
        session.replay.clear()
        const epoch = yield* conversations.record(taskId, messages, { _tag: "replay" }, yield* now)
        // No stream row: the task is gone. The supervisor stops this recorder; until then, retry.
        if (epoch === undefined) return yield* new TaskGone()
        session.epoch = epoch
        if (status !== undefined) yield* conversations.recordAgentStatus(taskId, status)
        yield* poke
        session.phase = "live"
        session.liveSince = Date.now()
        yield* Effect.logDebug("recording live").pipe(Effect.annotateLogs({ epoch, replayed: messages.length }))
      }).pipe(Effect.uninterruptible)

    const logAgentError = (event: Extract<AgentEvent, { _tag: "AgentError" }>) => {
      const at = Date.parse(event.time)
      const fresh = Number.isFinite(at) && at > errorsSeenUntil
      if (fresh) errorsSeenUntil = at
      // The agent's message may quote the conversation: it is not logged.
      const log = fresh ? Effect.logWarning("the agent reported an error") : Effect.logDebug("agent error replayed")
      return log.pipe(Effect.annotateLogs({ level: event.level, agent_time: event.time }))
    }

    /** One event of the stream. `wake` starts the writer, `space` tells the reader a batch was taken. */
    const onEvent = (session: Session, wake: Queue.Queue<void>, space: Queue.Queue<void>) => (event: AgentEvent) =>
      Effect.gen(function*() {
        switch (event._tag) {
          case "MessageUpdate": {
            const message = toAgentMessage(event)
            if (message === undefined) {
              return yield* Effect.logDebug("skipped a message taskd does not keep").pipe(
                Effect.annotateLogs({ role: event.role.slice(0, 40), id: String(event.id).slice(0, 40) })
              )
            }
            if (session.phase === "replay") {
              session.replay.set(message.id, message)
              return
            }
            const previous = session.pending.get(message.id)
            session.pending.set(message.id, message)
            session.pendingChars += message.content.length - (previous?.content.length ?? 0)
            yield* Queue.offer(wake, undefined)
            // Past the bound, read no more until the writer has taken the batch (it takes all at once).
            while (session.pending.size > maxPendingMessages || session.pendingChars > maxPendingChars) {
              yield* Queue.take(space)
            }
            return
          }
          case "StatusChange":
            if (session.phase === "replay") return yield* recordReplay(session, event.status)
            session.pendingStatus = event.status
            return yield* Queue.offer(wake, undefined)
          case "AgentError":
            return yield* logAgentError(event)
          case "Malformed":
            // A status taskd cannot read still ends the replay: what follows is live.
            if (session.phase === "replay" && event.event === "status_change") {
              yield* recordReplay(session, undefined)
            }
            return yield* Effect.logDebug("skipped a malformed agentapi event").pipe(
              Effect.annotateLogs({ event: event.event.slice(0, 40), detail: event.detail.slice(0, 200) })
            )
        }
      })

    /** Writes pending changes one batch at a time until the stream has ended and nothing is left. */
    const writer = (session: Session, wake: Queue.Queue<void>, space: Queue.Queue<void>) =>
      Effect.gen(function*() {
        while (true) {
          yield* Queue.take(wake)
          while (session.pending.size > 0 || session.pendingStatus !== undefined) {
            const batch = takeBatch(session)
            yield* Queue.offer(space, undefined)
            yield* write(session, batch)
          }
          if (session.ended) return
        }
      })

    /** One connection, from its replay to its end; always ends in a SessionError. */
    const session: Effect.Effect<never, SessionError> = Effect.gen(function*() {
      const app = yield* recorders.taskApp(taskId)
      if (app === undefined || app.url === "") return yield* new NoAppUrl({ status: app?.status })
      const state: Session = {
        phase: "replay",
        replay: new Map(),
        epoch: 0,
        pending: new Map(),
        pendingChars: 0,
        pendingStatus: undefined,
        ended: false,
        liveSince: undefined
      }
      const wake = yield* Queue.sliding<void>(1)
      const space = yield* Queue.sliding<void>(1)
      const reader = agentApi.events(app.url).pipe(
        Stream.runForEach(onEvent(state, wake, space)),
        Effect.andThen(Effect.sync(() => state.ended = true)),
        Effect.andThen(Queue.offer(wake, undefined))
      )
      yield* Effect.all([reader, writer(state, wake, space)], { concurrency: 2, discard: true })
      const lasted = state.liveSince === undefined ? 0 : Date.now() - state.liveSince
      return yield* new SessionEnded({ healthy: lasted >= Duration.toMillis(maxDelay) })
    }).pipe(
      Effect.catchDefect((defect) => Effect.fail(new RecorderDefect({ defect })))
    )

    const backoff = Schedule.min([Schedule.exponential(initialDelay), Schedule.spaced(maxDelay)]).pipe(
      Schedule.jittered
    )

    const logEnd = (error: SessionError) => {
      switch (error._tag) {
        case "SessionEnded":
          return Effect.logDebug("the agent's event stream ended; reconnecting")
        case "NoAppUrl":
          return Effect.logDebug("the task has no app URL yet")
        case "TaskGone":
          return Effect.logDebug("the task is gone")
        case "EpochChanged":
          return Effect.logInfo("another writer opened a new conversation; replaying")
        case "RecorderDefect":
          return Effect.logWarning("recording failed; retrying", error.defect)
        default:
          return Effect.logDebug("could not connect to the agent's event stream").pipe(
            Effect.annotateLogs({ error: error.message })
          )
      }
    }

    // Failures in a row back off; a healthy connection that ends starts over at once.
    return yield* session.pipe(
      Effect.tapError(logEnd),
      Effect.retry({ schedule: backoff, while: (error) => !(error._tag === "SessionEnded" && error.healthy) }),
      Effect.ignore,
      Effect.forever
    )
  }).pipe(Effect.annotateLogs({ task_id: taskId }))
