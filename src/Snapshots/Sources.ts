/**
 * Where imported snapshots come from: NDJSON (a file or any byte stream, such as stdin) and directories
 * of `<task_id>.json` files holding raw agentapi `GET /messages` payloads.
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { createReadStream } from "node:fs"
import { readdir, readFile, stat } from "node:fs/promises"
import * as Path from "node:path"
import { parseUuid } from "../Domain/Uuid.ts"
import type { SourceRecord } from "./Import.ts"

/** The source itself cannot be read (missing file, unreadable directory, read error). */
export class SourceError extends Data.TaggedError("SourceError")<{ readonly message: string }> {}

const describe = (error: unknown) => error instanceof Error ? error.message : String(error)

const parseJson = (text: string) =>
  Effect.try({ try: (): unknown => JSON.parse(text), catch: (error) => `invalid JSON: ${describe(error)}` })

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
export const ndjsonFile = (path: string, onBytes?: (n: number) => void): Stream.Stream<SourceRecord, SourceError> =>
  ndjsonRecords(
    NodeStream.fromReadable(
      () => path === "-" ? process.stdin : createReadStream(path),
      (error) => new SourceError({ message: `cannot read ${path}: ${describe(error)}` })
    ),
    onBytes
  )

/** The `.json` files of a directory, sorted by name so that a resumed run sees the same order. */
export const directoryFiles = (dir: string) =>
  Effect.tryPromise({
    try: async () =>
      (await readdir(dir, { withFileTypes: true }))
        .filter((entry) => entry.isFile() && entry.name.endsWith(".json"))
        .map((entry) => entry.name)
        .sort(),
    catch: (error) => new SourceError({ message: `cannot read directory ${dir}: ${describe(error)}` })
  })

/**
 * The snapshots of a directory of `<task_id>.json` files, each the raw agentapi payload, captured at the
 * file's modification time. Only the names are listed up front; contents are read as the import goes.
 */
export const directoryRecords = (dir: string, files: ReadonlyArray<string>): Stream.Stream<SourceRecord> =>
  Stream.map(Stream.fromIterable(files), (file): SourceRecord => ({
    location: { file },
    read: Effect.gen(function*() {
      const taskId = parseUuid(Path.basename(file, ".json"))
      if (Either.isLeft(taskId)) return yield* Effect.fail(`the file name is not a task id: ${taskId.left}`)
      const path = Path.join(dir, file)
      const { mtime, text } = yield* Effect.tryPromise({
        try: async () => ({ text: await readFile(path, "utf8"), mtime: (await stat(path)).mtime }),
        catch: (error) => `cannot read ${path}: ${describe(error)}`
      })
      const json = yield* parseJson(text)
      return { _tag: "Payload", taskId: taskId.right, capturedAt: mtime, json } as const
    })
  }))
