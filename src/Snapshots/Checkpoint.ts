/**
 * The checkpoint of a resumable import: how many source records are committed, the counts so far, and
 * what a resumed run must repeat exactly (the source, the options, the default capture time). Written
 * atomically after each committed batch (temporary file, fsync, rename), so a kill at any moment leaves
 * either the previous checkpoint or the next one.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs"
import * as Path from "node:path"

export class CheckpointError extends Data.TaggedError("CheckpointError")<{ readonly message: string }> {}

const Counts = Schema.Struct({
  read: Schema.NonNegativeInt,
  inserted: Schema.NonNegativeInt,
  updated: Schema.NonNegativeInt,
  skipped: Schema.NonNegativeInt,
  invalid: Schema.NonNegativeInt
})

export const Checkpoint = Schema.Struct({
  version: Schema.Literal(1),
  /** The source as given on the command line (absolute path, or "-"). */
  source: Schema.String,
  /** The options that change what is stored; a resume must use the same. */
  conflict: Schema.String,
  trim: Schema.Boolean,
  /** The capture time given to records without one, so that a resumed run stamps them alike. */
  default_captured_at: Schema.Date,
  /** Source records fully committed. */
  position: Schema.NonNegativeInt,
  summary: Counts,
  complete: Schema.Boolean
})
export type Checkpoint = typeof Checkpoint.Type

const decode = Schema.decodeUnknownEither(Schema.parseJson(Checkpoint))
const encode = Schema.encodeSync(Schema.parseJson(Checkpoint))

/** The checkpoint in `path`, or undefined when there is none yet. */
export const read = (path: string) =>
  Effect.gen(function*() {
    let text: string
    try {
      text = readFileSync(path, "utf8")
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return undefined
      return yield* new CheckpointError({ message: `cannot read checkpoint ${path}: ${String(error)}` })
    }
    const decoded = decode(text)
    if (decoded._tag === "Left") {
      return yield* new CheckpointError({ message: `${path} is not an import checkpoint: ${decoded.left.message}` })
    }
    return decoded.right
  })

/** Replaces the checkpoint in `path` atomically. */
export const write = (path: string, checkpoint: Checkpoint) =>
  Effect.try({
    try: () => {
      const temp = Path.join(Path.dirname(path), `.${Path.basename(path)}.${process.pid}.tmp`)
      const fd = openSync(temp, "w")
      try {
        writeSync(fd, encode(checkpoint) + "\n")
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(temp, path)
    },
    catch: (error) => new CheckpointError({ message: `cannot write checkpoint ${path}: ${String(error)}` })
  })
