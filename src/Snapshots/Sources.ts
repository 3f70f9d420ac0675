/**
 * Where imported snapshots come from: NDJSON (a file or any byte stream, such as stdin) and directories
 * of `<task_id>.json` files holding raw agentapi `GET /messages` payloads. Files are read through the
 * platform's FileSystem, stdin through Stdio.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Path from "effect/Path"
import * as Result from "effect/Result"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import { parseJsonExact } from "../Domain/Json.ts"
import { parseUuid } from "../Domain/Uuid.ts"
import type { SourceRecord } from "./Import.ts"

/** The source itself cannot be read (missing file, unreadable directory, read error). */
export class SourceError extends Data.TaggedError("SourceError")<{ readonly message: string }> {}

const describe = (error: unknown) => error instanceof Error ? error.message : String(error)

/** A record's JSON, exactly: message ids are int64s, which JSON.parse would round beyond 2^53. */
const parseJson = (text: string) =>
  Effect.try({ try: (): unknown => parseJsonExact(text), catch: (error) => `invalid JSON: ${describe(error)}` })

/**
 * NDJSON records from a byte stream, one per non-blank line, named by line number. `onBytes` is told
 * how many bytes were read, for progress.
 */
export const ndjsonRecords = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  onBytes: (n: number) => void = () => {}
): Stream.Stream<SourceRecord, E, R> =>
  bytes.pipe(
    Stream.tap((chunk) => Effect.sync(() => onBytes(chunk.byteLength))),
    Stream.decodeText(),
    Stream.splitLines,
    Stream.zipWithIndex,
    Stream.filter(([line]) => line.trim() !== ""),
    Stream.map(([line, index]): SourceRecord => ({
      location: { line: index + 1 },
      read: Effect.map(parseJson(line), (json) => ({ _tag: "Record", json }))
    }))
  )

/** NDJSON records from a file, or from stdin for `-`. */
export const ndjsonFile = (
  path: string,
  onBytes?: (n: number) => void
): Stream.Stream<SourceRecord, SourceError, FileSystem.FileSystem | Stdio.Stdio> =>
  ndjsonRecords(
    Stream.unwrap(Effect.gen(function*() {
      const bytes = path === "-" ? (yield* Stdio.Stdio).stdin : (yield* FileSystem.FileSystem).stream(path)
      return Stream.mapError(bytes, (error) => new SourceError({ message: `cannot read ${path}: ${describe(error)}` }))
    })),
    onBytes
  )

/** The `.json` files of a directory, sorted by name so that a resumed run sees the same order. */
export const directoryFiles = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const entries = yield* fs.readDirectoryEntries(dir)
    const files: Array<string> = []
    for (const entry of entries) {
      if (!entry.name.endsWith(".json")) continue
      // A listing that cannot tell the type falls back to stat, as Node's withFileTypes did not need to.
      const isFile = entry.type === "File" ||
        (entry.type === "Unknown" && (yield* fs.stat(`${dir}/${entry.name}`)).type === "File")
      if (isFile) files.push(entry.name)
    }
    return files.sort()
  }).pipe(
    Effect.mapError((error) => new SourceError({ message: `cannot read directory ${dir}: ${describe(error)}` }))
  )

/**
 * The snapshots of a directory of `<task_id>.json` files, each the raw agentapi payload, captured at the
 * file's modification time. Only the names are listed up front; contents are read as the import goes.
 */
export const directoryRecords = (
  dir: string,
  files: ReadonlyArray<string>
): Stream.Stream<SourceRecord, never, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    return Stream.map(Stream.fromIterable(files), (file): SourceRecord => ({
      location: { file },
      read: Effect.gen(function*() {
        const taskId = parseUuid(paths.basename(file, ".json"))
        if (Result.isFailure(taskId)) return yield* Effect.fail(`the file name is not a task id: ${taskId.failure}`)
        const path = paths.join(dir, file)
        const cannotRead = (error: unknown) => `cannot read ${path}: ${describe(error)}`
        const text = yield* Effect.mapError(fs.readFileString(path), cannotRead)
        const info = yield* Effect.mapError(fs.stat(path), cannotRead)
        const json = yield* parseJson(text)
        const capturedAt = Option.getOrElse(info.mtime, () => new Date(0))
        return { _tag: "Payload", taskId: taskId.success, capturedAt, json } as const
      })
    }))
  }))
