/**
 * Backfills task log snapshots from a custom source with the library function behind
 * `taskd snapshots import`: same codecs, trimming, conflict rule and batching.
 *
 *   DATABASE_URL=postgres://... node --import tsx scripts/backfill-example.ts <archive-dir>
 *
 * The "custom source" here is an archive of `<task_id>/<n>.log` text files, one message per file, turned
 * into one record per task. Any Stream of records in the import format works the same way.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { readdir, readFile, stat } from "node:fs/promises"
import * as Path from "node:path"
import * as Database from "../src/Database/Database.ts"
import * as Embedded from "../src/Database/Embedded.ts"
import { formatLocation, importSnapshots } from "../src/Snapshots/Backfill.ts"

const archive = process.argv[2] ?? "./archive"

/** One record per task directory: its .log files in order, as agent messages. */
const records = Stream.fromIterableEffect(Effect.promise(() => readdir(archive))).pipe(
  Stream.mapEffect((taskId) =>
    Effect.promise(async () => {
      const dir = Path.join(archive, taskId)
      const files = (await readdir(dir)).filter((f) => f.endsWith(".log")).sort((a, b) => parseInt(a) - parseInt(b))
      const messages = await Promise.all(files.map(async (file, id) => ({
        id,
        role: "agent",
        content: await readFile(Path.join(dir, file), "utf8"),
        time: (await stat(Path.join(dir, file))).mtime.toISOString()
      })))
      return { task_id: taskId, captured_at: (await stat(dir)).mtime.toISOString(), messages }
    }), { concurrency: 4 })
)

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

Effect.runPromise(Effect.provide(program, database))
