/**
 * One recorder (./Recorder.ts) per running task, across every instance that shares the database. Each
 * instance claims, in Postgres, the tasks that need a recorder and have no live one (RecorderRepo: the
 * way provisioner jobs are claimed), under the id the job runner registered and heartbeats
 * (TaskdInstance), and runs a recorder fiber per task it holds. A task's recorder stops, and its claim is
 * released, once the task no longer needs one (paused, errored, deleted) or another instance holds it.
 *
 * Rounds run at start, whenever the change feed says a task's status changed, and every `poll` as a
 * backstop (takeovers: nothing announces that an instance died). On the embedded database, where the feed
 * learns of changes only by polling, fast while anyone subscribes, the supervisor does not subscribe (it
 * would keep the feed polling 20 times a second while idle): its rounds run every second instead. A clean shutdown stops every recorder and
 * releases every claim, so that other instances take over at once; an instance killed outright loses its
 * claims when its heartbeat is older than TASKD_INSTANCE_TIMEOUT. Once the instance drains (Lifecycle) it
 * claims and starts nothing more; the recorders it runs keep recording the agents' last words until it
 * closes.
 *
 * TASKD_RECORDER=off turns recording off on an instance (it then claims nothing; others record).
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { Lifecycle } from "../Health/Lifecycle.ts"
import { TaskdInstance } from "../Provisioner/JobRunner.ts"
import { ChangeFeed, type HeadChange, isKeepAlive } from "./ChangeFeed.ts"
import { ConversationRepo } from "./ConversationRepo.ts"
import * as Recorder from "./Recorder.ts"
import { RecorderRepo } from "./RecorderRepo.ts"

export const RecorderConfig = Config.all({
  /** TASKD_RECORDER: `off` (or false, no, 0) leaves recording to other instances. */
  enabled: Config.Boolean("TASKD_RECORDER").pipe(Config.withDefault(true)),
  /** The backstop round; default a quarter of the instance timeout, at most 5 seconds. */
  poll: Config.option(Config.Duration("TASKD_RECORDER_POLL"))
})

/** Statuses with a running (or starting) agent: a change into or out of them is a reason for a round. */
const recordable = new Set(["active", "initializing"])

/** Whether a task's state change may change whether it needs a recorder. */
const concernsRecorders = ({ head, previous }: HeadChange) =>
  previous === undefined || head.deleted !== previous.deleted ||
  recordable.has(head.status) !== recordable.has(previous.status)

export const make = Effect.gen(function*() {
  const config = yield* RecorderConfig
  if (!config.enabled) {
    return yield* Effect.logInfo("TASKD_RECORDER is off: this instance records no conversation")
  }
  const instance = yield* TaskdInstance
  const repo = yield* RecorderRepo
  const feed = yield* ChangeFeed
  const lifecycle = yield* Lifecycle
  // Timestamps follow the host's clock (Parts.clock); rounds, backoff and sleeps the wall clock, as the job
  // runner's polling does, even when the handlers run on a test clock.
  const hostClock = yield* Clock.Clock
  const wallClock = Clock.Clock.defaultValue()
  const embedded = yield* repo.embedded
  const defaultPoll = Duration.min(
    Duration.seconds(embedded ? 1 : 5),
    Duration.millis(Math.max(100, Duration.toMillis(instance.staleAfter) / 4))
  )
  const poll = config.poll._tag === "Some" ? config.poll.value : defaultPoll

  const recorderOptions: Recorder.Options = {
    poke: feed.poke,
    now: Effect.sync(() => new Date(hostClock.currentTimeMillisUnsafe()))
  }

  // Acquired in this order so that closing runs the other way: the rounds stop, then the recorders (each
  // finishing a write in flight), then the claims are released.
  yield* Effect.addFinalizer(() =>
    repo.releaseAll(instance.id).pipe(
      Effect.tap((released) =>
        released === 0 ? Effect.void : Effect.logInfo(`released the recorders of ${released} task(s)`)
      ),
      Effect.catchCause((cause) => Effect.logWarning("could not release this instance's recorders", cause))
    )
  )
  const recorders = yield* FiberMap.make<string>()
  const wakeup = yield* Queue.sliding<void>(1)

  const startRecorder = (taskId: string) =>
    FiberMap.run(
      recorders,
      taskId,
      Recorder.run(taskId, recorderOptions).pipe(Effect.provideService(Clock.Clock, wallClock)),
      { onlyIfMissing: true }
    )

  /** Claims what needs a recorder, starts the recorders of the tasks held, stops the others. */
  const round = Effect.gen(function*() {
    const claimed = yield* lifecycle.unlessDraining(repo.claim(instance.id))
    if (claimed._tag === "Some" && claimed.value.length > 0) {
      yield* Effect.logDebug(`claimed the recorders of ${claimed.value.length} task(s)`)
    }
    const held = yield* repo.held(instance.id)
    const needed = new Set(held.filter((task) => task.needed).map((task) => task.taskId))
    // Stopped before their claims go: another instance never records alongside.
    for (const [taskId] of [...recorders]) {
      if (!needed.has(taskId)) yield* FiberMap.remove(recorders, taskId)
    }
    yield* repo.release(instance.id, held.filter((task) => !task.needed).map((task) => task.taskId))
    yield* lifecycle.unlessDraining(Effect.forEach(needed, startRecorder, { discard: true }))
  })

  const rounds = Effect.gen(function*() {
    for (;;) {
      yield* round.pipe(
        Effect.catchCause((cause) => Effect.logWarning("recorder supervisor: a round failed", cause))
      )
      yield* Effect.raceFirst(Queue.take(wakeup), Effect.sleep(poll))
    }
  })

  /** Status changes wake a round at once (several at a time wake one). */
  const heads = Effect.scoped(Effect.gen(function*() {
    const changes = yield* feed.subscribeHeads({ unbounded: true })
    yield* changes.pipe(
      Stream.filter((change) => !isKeepAlive(change) && concernsRecorders(change)),
      Stream.runForEach(() => Queue.offer(wakeup, undefined))
    )
  })).pipe(
    Effect.catchCause((cause) => Effect.logWarning("recorder supervisor: the change feed failed", cause)),
    Effect.andThen(Effect.sleep(poll)),
    Effect.forever
  )

  const untraced = Effect.withTracerEnabled(false)
  yield* Effect.forkScoped(untraced(Effect.provideService(rounds, Clock.Clock, wallClock)))
  if (!embedded) yield* Effect.forkScoped(untraced(Effect.provideService(heads, Clock.Clock, wallClock)))
})

/**
 * The recorders of this instance. Needs the job runner's TaskdInstance, the ChangeFeed (the one the
 * event streams read, so that they see this instance's writes at once), the Lifecycle, an AgentApiClient
 * and a SqlClient.
 */
export const layer = Layer.effectDiscard(make).pipe(
  Layer.provide(Layer.mergeAll(RecorderRepo.layer, ConversationRepo.layer))
)
