/**
 * The checkpoint of a resumable import: how many source records are committed, the counts so far, and
 * what a resumed run must repeat exactly (the source, the options, the default capture time). Written
 * atomically after each committed batch (temporary file, fsync, rename), so a kill at any moment leaves
 * either the previous checkpoint or the next one.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"
import * as Schema from "effect/Schema"
import { formatIssues } from "../Domain/SchemaIssues.ts"

export class CheckpointError extends Data.TaggedError("CheckpointError")<{ readonly message: string }> {}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const Counts = Schema.Struct({
  read: NonNegativeInt,
  inserted: NonNegativeInt,
  updated: NonNegativeInt,
  skipped: NonNegativeInt,
  invalid: NonNegativeInt
})

export const Checkpoint = Schema.Struct({
  version: Schema.Literal(1),
  /** The source as given on the command line (absolute path, or "-"). */
  source: Schema.String,
  /** The options that change what is stored; a resume must use the same. */
  conflict: Schema.String,
  trim: Schema.Boolean,
  /** The capture time given to records without one, so that a resumed run stamps them alike. */
  default_captured_at: Schema.DateFromString,
  /** Source records fully committed. */
  position: NonNegativeInt,
  summary: Counts,
  complete: Schema.Boolean
})
export type Checkpoint = typeof Checkpoint.Type

const CheckpointJson = Schema.fromJsonString(Checkpoint)
const decode = Schema.decodeUnknownResult(CheckpointJson)
const encode = Schema.encodeSync(CheckpointJson)

/** The checkpoint in `path`, or undefined when there is none yet. */
export const read = Effect.fnUntraced(function*(path: string) {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(path).pipe(
    Effect.map((text): string | undefined => text),
    Effect.catchTag("PlatformError", (error) =>
      error.reason._tag === "NotFound"
        ? Effect.succeed(undefined)
        : Effect.fail(new CheckpointError({ message: `cannot read checkpoint ${path}: ${error.message}` })))
  )
  if (text === undefined) return undefined
  const decoded = decode(text)
  if (decoded._tag === "Failure") {
    return yield* new CheckpointError({
      message: `${path} is not an import checkpoint: ${formatIssues(decoded.failure)}`
    })
  }
  return decoded.success
})

/** Replaces the checkpoint in `path` atomically. */
export const write = (path: string, checkpoint: Checkpoint) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const temp = paths.join(paths.dirname(path), `.${paths.basename(path)}.${process.pid}.tmp`)
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(temp, { flag: "w" })
      yield* file.writeAll(new TextEncoder().encode(encode(checkpoint) + "\n"))
      yield* file.sync
    }))
    yield* fs.rename(temp, path)
  }).pipe(
    Effect.mapError((error) => new CheckpointError({ message: `cannot write checkpoint ${path}: ${error.message}` }))
  )
