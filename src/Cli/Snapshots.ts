/**
 * `taskd snapshots import` and `taskd snapshots export`: bulk loads over the same repositories and codecs
 * as the upload endpoint. They open the database the environment names (DATABASE_URL, else the embedded
 * PGlite in TASKD_DATA_DIR, which only one process can open at a time).
 *
 * Exit codes of import: 0 when every record was stored or skipped by rule, 1 when some were invalid (or
 * named unknown tasks), 2 when the run itself failed, 130 when it was interrupted (the checkpoint given
 * to --resume lets it continue).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { closeSync, openSync, statSync, writeSync } from "node:fs"
import * as Path from "node:path"
import * as Database from "../Database/Database.ts"
import { Timestamp } from "../Domain/Time.ts"
import * as Checkpoint from "../Snapshots/Checkpoint.ts"
import { exportSnapshots } from "../Snapshots/Export.ts"
import {
  emptySummary,
  formatLocation,
  type ImportProgress,
  importSources,
  type ImportSummary,
  type InvalidRecord,
  type SourceRecord
} from "../Snapshots/Import.ts"
import type { ConflictMode } from "../Snapshots/SnapshotRepo.ts"
import { directoryFiles, directoryRecords, ndjsonFile, SourceError } from "../Snapshots/Sources.ts"

/** A teardown for NodeRuntime.runMain that keeps the exit code a command set, also when interrupted. */
export const teardown = <E, A>(exit: Exit.Exit<E, A>, onExit: (code: number) => void) => {
  const set = typeof process.exitCode === "number" ? process.exitCode : Number(process.exitCode ?? 0)
  if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) onExit(set === 0 ? 1 : set)
  else onExit(set)
}

const errorMessage = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return String(error)
}

/** Reports a failed run on stderr and sets exit code 2; an interruption passes through. */
const failRun = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchAllCause(effect, (cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const reason = Option.match(Cause.failureOption(cause), {
      onSome: errorMessage,
      onNone: () => Cause.pretty(cause)
    })
    return Effect.zipRight(Console.error(`error: ${reason}`), Effect.sync(() => process.exitCode = 2))
  })

const countsLine = (summary: ImportSummary) =>
  `read ${summary.read}, inserted ${summary.inserted}, updated ${summary.updated}, ` +
  `skipped ${summary.skipped}, invalid ${summary.invalid}`

/** Where invalid records are reported: NDJSON in `--errors <file>`, otherwise one line each on stderr. */
const errorSink = (path: Option.Option<string>, append: boolean) =>
  Option.match(path, {
    onNone: () =>
      Effect.succeed((record: InvalidRecord) =>
        Console.error(
          `invalid: ${formatLocation(record.location)}: ${
            record.task_id === undefined ? "" : `task ${record.task_id}: `
          }${record.reason}`
        )
      ),
    onSome: (file) =>
      Effect.map(
        Effect.acquireRelease(
          Effect.try({
            try: () => openSync(file, append ? "a" : "w"),
            catch: (error) => new SourceError({ message: `cannot open ${file}: ${errorMessage(error)}` })
          }),
          (fd) => Effect.sync(() => closeSync(fd))
        ),
        (fd) => (record: InvalidRecord) =>
          Effect.sync(() => {
            const { location, ...rest } = record
            writeSync(fd, JSON.stringify({ ...location, ...rest }) + "\n")
          })
      )
  })

interface ProgressState {
  progress: ImportProgress
  readonly startedAt: number
  readonly startPosition: number
  /** Done and total, in the unit the source knows (bytes of a file, files of a directory). */
  fraction: () => number | undefined
}

const bar = (fraction: number, width = 30) => {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`
}

const rateOf = (state: ProgressState, now: number) => {
  const seconds = Math.max(0.001, (now - state.startedAt) / 1000)
  return Math.round((state.progress.position - state.startPosition) / seconds)
}

/** A progress bar on a terminal; on a pipe, a JSON line every `intervalSeconds`. On stderr. */
const showProgress = (state: ProgressState, intervalSeconds: number) => {
  const tty = process.stderr.isTTY === true
  const tick = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() => {
      const { summary } = state.progress
      const fraction = state.fraction()
      if (tty) {
        process.stderr.write(
          `\r\x1b[K${fraction === undefined ? "" : `${bar(fraction)} `}${countsLine(summary)} (${rateOf(state, now)}/s)`
        )
      } else {
        process.stderr.write(
          JSON.stringify({
            progress: summary,
            ...(fraction === undefined ? {} : { fraction: Math.round(fraction * 1000) / 1000 }),
            records_per_second: rateOf(state, now),
            elapsed_seconds: Math.round((now - state.startedAt) / 100) / 10
          }) + "\n"
        )
      }
    }))
  const every = Duration.millis(tty ? 250 : Math.max(0.1, intervalSeconds) * 1000)
  const done = tty ? Effect.sync(() => process.stderr.write("\r\x1b[K")) : Effect.void
  return Effect.forkScoped(
    Effect.onInterrupt(
      Effect.repeat(Effect.delay(tick, every), Schedule.forever),
      () => done
    )
  )
}

const importOptions = {
  source: Args.text({ name: "source" }).pipe(
    Args.withDescription("An NDJSON file, a directory of <task_id>.json agentapi payloads, or - for stdin.")
  ),
  noTrim: Options.boolean("no-trim").pipe(
    Options.withDescription("Store payloads as given, without the uploader's 10-message/64 KiB trimming.")
  ),
  onlyMissing: Options.boolean("only-missing").pipe(
    Options.withDescription("Never replace a stored snapshot.")
  ),
  overwrite: Options.boolean("overwrite").pipe(
    Options.withDescription("Always replace a stored snapshot (default: unless the record is older).")
  ),
  batchSize: Options.integer("batch-size").pipe(
    Options.withDescription("Records per statement and transaction."),
    Options.withDefault(500)
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("Records read and decoded at once."),
    Options.withDefault(8)
  ),
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("Validate and count against the database, write nothing.")
  ),
  errors: Options.text("errors").pipe(
    Options.withDescription("Write invalid records as NDJSON to this file instead of stderr."),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print the final summary as JSON.")),
  resume: Options.text("resume").pipe(
    Options.withDescription("A checkpoint file: continue the run it records, and keep it up to date."),
    Options.optional
  ),
  progressInterval: Options.float("progress-interval").pipe(
    Options.withDescription("Seconds between JSON progress lines when stderr is not a terminal."),
    Options.withDefault(5)
  )
}

type ImportCliOptions = {
  readonly [K in keyof typeof importOptions]: (typeof importOptions)[K] extends
    Options.Options<infer A> | Args.Args<infer A> ? A : never
}

/** What the source is: stdin, a directory (with its files listed) or an NDJSON file (with its size). */
const openSource = (source: string, onBytes: (n: number) => void) =>
  Effect.gen(function*() {
    if (source === "-") {
      return { key: "-", stream: ndjsonFile("-", onBytes), total: undefined as number | undefined, unit: "bytes" }
    }
    const info = yield* Effect.try({
      try: () => statSync(source),
      catch: (error) => new SourceError({ message: `cannot read ${source}: ${errorMessage(error)}` })
    })
    const key = Path.resolve(source)
    if (info.isDirectory()) {
      const files = yield* directoryFiles(source)
      return { key, stream: directoryRecords(source, files), total: files.length, unit: "records" }
    }
    return { key, stream: ndjsonFile(source, onBytes), total: info.size, unit: "bytes" }
  })

const runImport = (options: ImportCliOptions) => {
  let state: ProgressState | undefined
  let checkpointPath: string | undefined
  return Effect.gen(function*() {
    if (options.onlyMissing && options.overwrite) {
      return yield* Effect.fail(new SourceError({ message: "--only-missing and --overwrite exclude each other" }))
    }
    if (options.batchSize < 1 || options.concurrency < 1) {
      return yield* Effect.fail(new SourceError({ message: "--batch-size and --concurrency must be at least 1" }))
    }
    const conflict: ConflictMode = options.onlyMissing ? "only-missing" : options.overwrite ? "overwrite" : "newer"
    const trim = !options.noTrim
    let bytesRead = 0
    const source = yield* openSource(options.source, (n) => bytesRead += n)

    checkpointPath = Option.getOrUndefined(options.resume)
    const previous = checkpointPath === undefined ? undefined : yield* Checkpoint.read(checkpointPath)
    if (previous !== undefined) {
      const mismatch = previous.source !== source.key
        ? `it is for ${previous.source}, not ${source.key}`
        : previous.conflict !== conflict || previous.trim !== trim
        ? `it was made with other options (conflict ${previous.conflict}, trim ${previous.trim})`
        : undefined
      if (mismatch !== undefined) {
        return yield* new Checkpoint.CheckpointError({ message: `cannot resume from ${checkpointPath}: ${mismatch}` })
      }
    }
    const now = yield* Clock.currentTimeMillis
    const defaultCapturedAt = previous?.default_captured_at ?? new Date(now)
    const resumeFrom: ImportProgress = previous === undefined
      ? { position: 0, summary: emptySummary }
      : { position: previous.position, summary: previous.summary }
    const saveCheckpoint = (progress: ImportProgress, complete: boolean) =>
      checkpointPath === undefined || options.dryRun
        ? Effect.void
        : Checkpoint.write(checkpointPath, {
          version: 1,
          source: source.key,
          conflict,
          trim,
          default_captured_at: defaultCapturedAt,
          position: progress.position,
          summary: progress.summary,
          complete
        })
    // Written before the first batch, so that a resumed run stamps undated records with the same time.
    yield* saveCheckpoint(resumeFrom, previous?.complete ?? false)

    const progressState: ProgressState = {
      progress: resumeFrom,
      startedAt: now,
      startPosition: resumeFrom.position,
      fraction: () =>
        source.total === undefined || source.total === 0
          ? undefined
          : (source.unit === "bytes" ? bytesRead : progressState.progress.position) / source.total
    }
    state = progressState
    const onInvalid = yield* errorSink(options.errors, previous !== undefined)
    const progressFiber = yield* showProgress(progressState, options.progressInterval)

    const summary = yield* importSources(source.stream as Stream.Stream<SourceRecord, SourceError>, {
      conflict,
      trim,
      dryRun: options.dryRun,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      resumeFrom,
      defaultCapturedAt,
      onInvalid,
      onBatch: (progress) =>
        Effect.zipRight(
          Effect.sync(() => progressState.progress = progress),
          saveCheckpoint(progress, false)
        )
    })
    yield* saveCheckpoint(progressState.progress, true)
    yield* progressFiber.interruptAsFork(progressFiber.id())
    yield* Effect.yieldNow()
    if (process.stderr.isTTY === true) process.stderr.write("\r\x1b[K")
    yield* Console.log(
      options.json
        ? JSON.stringify(summary)
        : `${countsLine(summary)}${options.dryRun ? " (dry run: nothing was written)" : ""}`
    )
    process.exitCode = summary.invalid > 0 ? 1 : 0
  }).pipe(
    Effect.scoped,
    Effect.provide(Database.migrated(Database.fromConfig)),
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        process.exitCode = 130
        const position = state?.progress.position ?? 0
        process.stderr.write(
          `\ninterrupted: ${position} records committed (${countsLine(state?.progress.summary ?? emptySummary)})` +
            (checkpointPath === undefined
              ? "; run with --resume <file> to be able to continue an interrupted import.\n"
              : `; run the same command with --resume ${checkpointPath} to continue.\n`)
        )
      })
    ),
    failRun
  )
}

const importCommand = Command.make("import", importOptions, runImport).pipe(
  Command.withDescription(
    "Import task log snapshots (NDJSON records, or a directory of agentapi payloads) through the upload codecs."
  )
)

const decodeTime = Schema.decodeUnknownEither(Timestamp)

/** Writes to stdout, waiting when the pipe is full. */
const writeOut = (text: string) =>
  process.stdout.write(text)
    ? Effect.void
    : Effect.async<void>((resume) => {
      process.stdout.once("drain", () => resume(Effect.void))
    })

const exportCommand = Command.make("export", {
  task: Options.text("task").pipe(Options.withDescription("Only this task (repeatable)."), Options.repeated),
  owner: Options.text("owner").pipe(
    Options.withDescription("Only tasks of this user (id or username)."),
    Options.optional
  ),
  since: Options.text("since").pipe(
    Options.withDescription("Only snapshots captured at or after this RFC 3339 time."),
    Options.optional
  )
}, (options) =>
  Effect.gen(function*() {
    const since = Option.isNone(options.since) ? undefined : decodeTime(options.since.value)
    if (since !== undefined && Either.isLeft(since)) {
      return yield* Effect.fail(
        new SourceError({
          message: `--since: ${options.since.pipe(Option.getOrElse(() => ""))} is not an RFC 3339 time`
        })
      )
    }
    let unexportable = 0
    yield* exportSnapshots({
      ...(options.task.length === 0 ? {} : { taskIds: options.task.map((id) => id.toLowerCase()) }),
      ...(Option.isSome(options.owner) ? { owner: options.owner.value } : {}),
      ...(since === undefined ? {} : { since: (since as Either.Right<never, Date>).right })
    }).pipe(
      Stream.runForEachChunk((chunk) => {
        let text = ""
        for (const item of chunk) {
          if (Either.isRight(item)) text += JSON.stringify(item.right) + "\n"
          else {
            unexportable++
            process.stderr.write(`skipped: task ${item.left.task_id}: ${item.left.reason}\n`)
          }
        }
        return text === "" ? Effect.void : writeOut(text)
      })
    )
    process.exitCode = unexportable > 0 ? 1 : 0
  }).pipe(Effect.provide(Database.migrated(Database.fromConfig)), failRun)).pipe(
    Command.withDescription("Write task log snapshots to stdout as NDJSON, in the import format.")
  )

export const snapshots = Command.make("snapshots").pipe(
  Command.withDescription("Bulk import and export of task log snapshots."),
  Command.withSubcommands([importCommand, exportCommand])
)
