/**
 * Backfills task log snapshots from a custom source with the library function behind
 * `taskd snapshots import`: same codecs, trimming, conflict rule and batching.
 *
 *   DATABASE_URL=postgres://... node scripts/backfill-example.ts <archive-dir>
 *
 * The "custom source" here is an archive of `<task_id>/<n>.log` text files, one message per file, turned
 * into one record per task. Any Stream of records in the import format works the same way.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Path from "effect/Path"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database/Database.ts"
import * as Embedded from "../src/Database/Embedded.ts"
import { formatLocation, importSnapshots } from "../src/Snapshots/Backfill.ts"

const archive = process.argv[2] ?? "./archive"

const modified = (info: FileSystem.File.Info) => Option.getOrElse(info.mtime, () => new Date(0)).toISOString()

/** One record per task directory: its .log files in numeric order, as agent messages. */
const taskRecord = (taskId: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = path.join(archive, taskId)
    const files = (yield* fs.readDirectory(dir))
      .filter((file) => file.endsWith(".log"))
      .sort((a, b) => parseInt(a) - parseInt(b))
    const messages = yield* Effect.forEach(files, (file, id) =>
      Effect.gen(function*() {
        const filePath = path.join(dir, file)
        return {
          id,
          role: "agent",
          content: yield* fs.readFileString(filePath),
          time: modified(yield* fs.stat(filePath))
        }
      }))
    return { task_id: taskId, captured_at: modified(yield* fs.stat(dir)), messages }
  })

const records = Stream.fromIterableEffect(
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readDirectory(archive))
).pipe(Stream.mapEffect(taskRecord, { concurrency: 4 }))

const program = importSnapshots(records, {
  batchSize: 200,
  onInvalid: (record) => Console.error(`${formatLocation(record.location)}: ${record.reason}`)
}).pipe(Effect.flatMap((summary) => Console.log(JSON.stringify(summary))))

const url = process.env["DATABASE_URL"]
const database = Database.migrated(
  url === undefined
    ? Embedded.layer(process.env["TASKD_DATA_DIR"] ?? "./.taskd")
    : Database.postgres(Redacted.make(url), 4)
)

program.pipe(Effect.provide([database, NodeServices.layer]), NodeRuntime.runMain)
