/**
 * `taskd snapshots import` and `taskd snapshots export`: bulk loads over the same repositories and codecs
 * as the upload endpoint. They open the database the environment names (DATABASE_URL, else the embedded
 * PGlite in TASKD_DATA_DIR, which only one process can open at a time).
 *
 * Exit codes of import: 0 when every record was stored or skipped by rule, 1 when some were invalid (or
 * named unknown tasks), 2 when the run itself failed, 130 when it was interrupted (the checkpoint given
 * to --resume lets it continue).
 *
 * Files, stdout, stderr and the terminal go through the platform's FileSystem, Path, Stdio and Terminal.
 */
import * as Cause from "effect/Cause"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Path from "effect/Path"
import type * as PlatformError from "effect/PlatformError"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import * as Terminal from "effect/Terminal"
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
import { describeError, setExitCode } from "./Output.ts"

/** A platform error as the operating system put it (`ENOENT: no such file or directory, stat '...'`). */
const platformMessage = (error: PlatformError.PlatformError) =>
  error.reason.cause instanceof Error ? error.reason.cause.message : error.message

/** Reports a failed run on stderr and sets exit code 2; an interruption passes through. */
const failRun = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchCause(effect, (cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
    const reason = Option.match(Cause.findErrorOption(cause), {
      onSome: describeError,
      onNone: () => Cause.pretty(cause)
    })
    return Effect.andThen(Console.error(`error: ${reason}`), setExitCode(2))
  })

const countsLine = (summary: ImportSummary) =>
  `read ${summary.read}, inserted ${summary.inserted}, updated ${summary.updated}, ` +
  `skipped ${summary.skipped}, invalid ${summary.invalid}`

/** Writes `text` as it is (no newline added) to stderr. */
const writeStderr = (text: string) =>
  Effect.flatMap(Stdio.Stdio, (stdio) => Stream.run(Stream.succeed(text), stdio.stderr())).pipe(Effect.ignore)

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
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const handle = yield* fs.open(file, { flag: append ? "a" : "w" }).pipe(
          Effect.mapError((error) => new SourceError({ message: `cannot open ${file}: ${platformMessage(error)}` }))
        )
        const encoder = new TextEncoder()
        return (record: InvalidRecord) => {
          const { location, ...rest } = record
          return handle.writeAll(encoder.encode(JSON.stringify({ ...location, ...rest }) + "\n")).pipe(Effect.orDie)
        }
      })
  })

interface ProgressState {
  progress: ImportProgress
  readonly startedAt: number
  readonly startPosition: number
  /** Done and total, in the unit the source knows (bytes of a file, files of a directory). */
  readonly fraction: () => number | undefined
}

const bar = (fraction: number, width = 30) => {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`
}

const rateOf = (state: ProgressState, now: number) => {
  const seconds = Math.max(0.001, (now - state.startedAt) / 1000)
  return Math.round((state.progress.position - state.startPosition) / seconds)
}

/**
 * A progress line on a terminal, redrawn in place (a carriage return and the line padded to the
 * terminal's width); on a pipe, a JSON line every `intervalSeconds`. On stderr.
 */
const showProgress = (state: ProgressState, intervalSeconds: number) =>
  Effect.gen(function*() {
    const stdio = yield* Stdio.Stdio
    const terminal = yield* Terminal.Terminal
    const tty = yield* stdio.stderrIsTerminal
    const width = Math.max(20, (yield* terminal.columns) || 80) - 1
    const redraw = (line: string) => writeStderr(`\r${line.slice(0, width).padEnd(width)}\r`)
    const tick = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const { summary } = state.progress
      const fraction = state.fraction()
      const counts = `${countsLine(summary)} (${rateOf(state, now)}/s)`
      // The bar gives way to the counts on a narrow terminal.
      const barWidth = Math.min(30, width - counts.length - 8)
      return tty
        ? redraw(`${fraction === undefined || barWidth < 10 ? "" : `${bar(fraction, barWidth)} `}${counts}`)
        : Console.error(JSON.stringify({
          progress: summary,
          ...(fraction === undefined ? {} : { fraction: Math.round(fraction * 1000) / 1000 }),
          records_per_second: rateOf(state, now),
          elapsed_seconds: Math.round((now - state.startedAt) / 100) / 10
        }))
    })
    const every = Duration.millis(tty ? 250 : Math.max(0.1, intervalSeconds) * 1000)
    return yield* Effect.forkScoped(
      Effect.onInterrupt(
        Effect.repeat(Effect.delay(tick, every), Schedule.forever),
        () => tty ? redraw("") : Effect.void
      )
    )
  })

const importOptions = {
  source: Argument.String("source").pipe(
    Argument.withDescription("An NDJSON file, a directory of <task_id>.json agentapi payloads, or - for stdin.")
  ),
  noTrim: Flag.Boolean("no-trim").pipe(
    Flag.withDescription("Store payloads as given, without the uploader's 10-message/64 KiB trimming."),
    Flag.withDefault(false)
  ),
  onlyMissing: Flag.Boolean("only-missing").pipe(
    Flag.withDescription("Never replace a stored snapshot."),
    Flag.withDefault(false)
  ),
  overwrite: Flag.Boolean("overwrite").pipe(
    Flag.withDescription("Always replace a stored snapshot (default: unless the record is older)."),
    Flag.withDefault(false)
  ),
  batchSize: Flag.Int("batch-size").pipe(
    Flag.withDescription("Records per statement and transaction."),
    Flag.withDefault(500)
  ),
  concurrency: Flag.Int("concurrency").pipe(
    Flag.withDescription("Records read and decoded at once."),
    Flag.withDefault(8)
  ),
  dryRun: Flag.Boolean("dry-run").pipe(
    Flag.withDescription("Validate and count against the database, write nothing."),
    Flag.withDefault(false)
  ),
  errors: Flag.String("errors").pipe(
    Flag.withDescription("Write invalid records as NDJSON to this file instead of stderr."),
    Flag.optional
  ),
  json: Flag.Boolean("json").pipe(Flag.withDescription("Print the final summary as JSON."), Flag.withDefault(false)),
  resume: Flag.String("resume").pipe(
    Flag.withDescription("A checkpoint file: continue the run it records, and keep it up to date."),
    Flag.optional
  ),
  progressInterval: Flag.Finite("progress-interval").pipe(
    Flag.withDescription("Seconds between JSON progress lines when stderr is not a terminal."),
    Flag.withDefault(5)
  )
}

interface ImportCliOptions {
  readonly source: string
  readonly noTrim: boolean
  readonly onlyMissing: boolean
  readonly overwrite: boolean
  readonly batchSize: number
  readonly concurrency: number
  readonly dryRun: boolean
  readonly errors: Option.Option<string>
  readonly json: boolean
  readonly resume: Option.Option<string>
  readonly progressInterval: number
}

/** What the source is: stdin, a directory (with its files listed) or an NDJSON file (with its size). */
const openSource = (source: string, onBytes: (n: number) => void) =>
  Effect.gen(function*() {
    if (source === "-") {
      return { key: "-", stream: ndjsonFile("-", onBytes), total: undefined as number | undefined, unit: "bytes" }
    }
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const info = yield* fs.stat(source).pipe(
      Effect.mapError((error) => new SourceError({ message: `cannot read ${source}: ${platformMessage(error)}` }))
    )
    const key = path.resolve(source)
    if (info.type === "Directory") {
      const files = yield* directoryFiles(source)
      return { key, stream: directoryRecords(source, files), total: files.length, unit: "records" }
    }
    return { key, stream: ndjsonFile(source, onBytes), total: Number(info.size), unit: "bytes" }
  })

const runImport = (options: ImportCliOptions) => {
  let state: ProgressState | undefined
  let checkpointPath: string | undefined
  return Effect.gen(function*() {
    if (options.onlyMissing && options.overwrite) {
      return yield* new SourceError({ message: "--only-missing and --overwrite exclude each other" })
    }
    if (options.batchSize < 1 || options.concurrency < 1) {
      return yield* new SourceError({ message: "--batch-size and --concurrency must be at least 1" })
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
    // The checkpoint is written from the import's batch callback, which takes no services of its own.
    const files = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const saveCheckpoint = (progress: ImportProgress, complete: boolean) =>
      checkpointPath === undefined || options.dryRun
        ? Effect.void
        : Effect.provideContext(
          Checkpoint.write(checkpointPath, {
            version: 1,
            source: source.key,
            conflict,
            trim,
            default_captured_at: defaultCapturedAt,
            position: progress.position,
            summary: progress.summary,
            complete
          }),
          files
        )
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
        Effect.andThen(
          Effect.sync(() => progressState.progress = progress),
          saveCheckpoint(progress, false)
        )
    })
    yield* saveCheckpoint(progressState.progress, true)
    // Stops the progress line (and clears it on a terminal) before the summary is printed.
    yield* Fiber.interrupt(progressFiber)
    yield* Console.log(
      options.json
        ? JSON.stringify(summary)
        : `${countsLine(summary)}${options.dryRun ? " (dry run: nothing was written)" : ""}`
    )
    yield* setExitCode(summary.invalid > 0 ? 1 : 0)
  }).pipe(
    Effect.scoped,
    Effect.provide(Database.migrated(Database.fromConfig)),
    Effect.onInterrupt(() =>
      Effect.andThen(
        setExitCode(130),
        Console.error(
          `\ninterrupted: ${state?.progress.position ?? 0} records committed ` +
            `(${countsLine(state?.progress.summary ?? emptySummary)})` +
            (checkpointPath === undefined
              ? "; run with --resume <file> to be able to continue an interrupted import."
              : `; run the same command with --resume ${checkpointPath} to continue.`)
        )
      )
    ),
    failRun
  )
}

const importCommand = Command.make("import", importOptions, runImport).pipe(
  Command.withDescription(
    "Import task log snapshots (NDJSON records, or a directory of agentapi payloads) through the upload codecs."
  )
)

const decodeTime = Schema.decodeUnknownResult(Timestamp)

const exportCommand = Command.make("export", {
  task: Flag.String("task").pipe(Flag.withDescription("Only this task (repeatable)."), Flag.atLeast(0)),
  owner: Flag.String("owner").pipe(
    Flag.withDescription("Only tasks of this user (id or username)."),
    Flag.optional
  ),
  since: Flag.String("since").pipe(
    Flag.withDescription("Only snapshots captured at or after this RFC 3339 time."),
    Flag.optional
  )
}, (options) =>
  Effect.gen(function*() {
    let since: Date | undefined
    if (Option.isSome(options.since)) {
      const decoded = decodeTime(options.since.value)
      if (Result.isFailure(decoded)) {
        return yield* new SourceError({ message: `--since: ${options.since.value} is not an RFC 3339 time` })
      }
      since = decoded.success
    }
    const stdio = yield* Stdio.Stdio
    let unexportable = 0
    yield* exportSnapshots({
      ...(options.task.length === 0 ? {} : { taskIds: options.task.map((id) => id.toLowerCase()) }),
      ...(Option.isSome(options.owner) ? { owner: options.owner.value } : {}),
      ...(since === undefined ? {} : { since })
    }).pipe(
      // One write per chunk of records; the ones that cannot be exported are reported on stderr.
      Stream.mapArrayEffect((items) =>
        Effect.gen(function*() {
          let text = ""
          for (const item of items) {
            if (Result.isSuccess(item)) text += JSON.stringify(item.success) + "\n"
            else {
              unexportable++
              yield* Console.error(`skipped: task ${item.failure.task_id}: ${item.failure.reason}`)
            }
          }
          return [text] as const
        })
      ),
      Stream.filter((text) => text !== ""),
      Stream.run(stdio.stdout())
    )
    yield* setExitCode(unexportable > 0 ? 1 : 0)
  }).pipe(Effect.provide(Database.migrated(Database.fromConfig)), failRun)).pipe(
    Command.withDescription("Write task log snapshots to stdout as NDJSON, in the import format.")
  )

export const snapshots = Command.make("snapshots").pipe(
  Command.withDescription("Bulk import and export of task log snapshots."),
  Command.withSubcommands([importCommand, exportCommand])
)
