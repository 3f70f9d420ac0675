/**
 * `taskd snapshots import/export` as a child process: exit codes, the --errors file, a data directory in
 * use, and --resume after SIGINT and after SIGKILL. The database is prepared in this process and closed
 * before the CLI opens it (a PGlite data directory is one process's at a time).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import * as Database from "../src/Database/Database.ts"
import * as Embedded from "../src/Database/Embedded.ts"
import { createTaskWorkspace, createTemplate, createUser } from "./support/Fixtures.ts"
import * as TestServer from "./support/TestServer.ts"

const root = Path.resolve(import.meta.dirname, "..")
const scratch = mkdtempSync(Path.join(tmpdir(), "taskd-import-cli-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

interface Target {
  readonly name: string
  readonly env: Record<string, string>
  readonly layer: () => Layer.Layer<SqlClient.SqlClient, unknown>
  readonly drop: () => Promise<void>
}

const adminUrl = process.env["TEST_DATABASE_URL"]

const runAdmin = (statement: string) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
      Effect.provide(Database.postgres(Redacted.make(adminUrl!), 1)),
      Effect.scoped
    )
  )

/** A fresh database: a PGlite data directory, or a new database on the TEST_DATABASE_URL server. */
const freshTarget = async (kind: "pglite" | "postgres"): Promise<Target> => {
  if (kind === "pglite") {
    const dir = mkdtempSync(Path.join(scratch, "data-"))
    return {
      name: "pglite",
      env: { TASKD_DATA_DIR: dir },
      layer: () => Database.migrated(Embedded.layer(dir)),
      drop: async () => {}
    }
  }
  const name = `taskd_cli_${randomBytes(6).toString("hex")}`
  await runAdmin(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl!)
  url.pathname = `/${name}`
  return {
    name: "postgres",
    env: { DATABASE_URL: url.toString() },
    layer: () => Database.migrated(Database.postgres(Redacted.make(url.toString()), 2)),
    drop: () => runAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => {})
  }
}

/** Runs `effect` against the target with the test server's fixtures, then closes the database. */
const withDatabase = <A>(target: Target, effect: Effect.Effect<A, unknown, any>): Promise<A> =>
  Effect.runPromise(
    Effect.provide(
      effect,
      TestServer.layer({ name: "pglite", layer: target.layer() as any, unmigrated: target.layer() as any })
    ) as Effect.Effect<A>
  )

const makeTasks = (target: Target, n: number) =>
  withDatabase(
    target,
    Effect.gen(function*() {
      const owner = yield* createUser()
      const template = yield* createTemplate()
      const ids: Array<string> = []
      for (let i = 0; i < n; i++) ids.push((yield* createTaskWorkspace(owner, template)).taskId)
      return ids
    })
  )

const snapshotsOf = (target: Target) =>
  withDatabase(
    target,
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ task_id: string; log_snapshot: any; log_snapshot_created_at: Date }>`
        SELECT task_id::text AS task_id, log_snapshot, log_snapshot_created_at FROM task_snapshots ORDER BY task_id`)
  )

interface Child {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Starts `taskd <args>`; `whileRunning` may signal the process. */
const taskd = (
  target: Target,
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly whileRunning?: (pid: number, done: () => boolean) => Promise<void> } = {}
): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/main.ts", ...args], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...target.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let exited = false
    child.stdout.on("data", (chunk) => stdout += chunk)
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      exited = true
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.end(options.input ?? "")
    if (options.whileRunning !== undefined) options.whileRunning(child.pid!, () => exited).catch(reject)
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until the checkpoint records at least `min` committed records, then sends `signal`. */
const killAt =
  (checkpoint: string, min: number, signal: NodeJS.Signals) => async (pid: number, done: () => boolean) => {
    for (;;) {
      if (done()) return
      if (existsSync(checkpoint)) {
        const position = JSON.parse(readFileSync(checkpoint, "utf8")).position as number
        if (position >= min) {
          process.kill(pid, signal)
          return
        }
      }
      await sleep(10)
    }
  }

const message = (id: number) => ({ id, content: `message ${id}`, role: "agent", time: "2025-01-01T10:00:00Z" })

const kinds: ReadonlyArray<"pglite" | "postgres"> = adminUrl === undefined ? ["pglite"] : ["pglite", "postgres"]

for (const kind of kinds) {
  describe(`taskd snapshots import (child process) [${kind}]`, () => {
    it("exit codes, --errors file, --json summary, and a database it cannot open", async () => {
      const target = await freshTarget(kind)
      try {
        const ids = await makeTasks(target, 2)
        const file = Path.join(scratch, `mixed-${kind}.ndjson`)
        writeFileSync(
          file,
          [
            JSON.stringify({ task_id: ids[0], captured_at: "2025-01-01T10:00:00Z", messages: [message(1)] }),
            "garbage",
            JSON.stringify({ task_id: ids[1], captured_at: "2025-01-01T10:00:00Z", messages: [message(2)] }),
            JSON.stringify({ task_id: ids[1] })
          ].join("\n") + "\n"
        )
        const errors = Path.join(scratch, `errors-${kind}.ndjson`)
        const first = await taskd(target, ["snapshots", "import", file, "--errors", errors, "--json"])
        assert.strictEqual(first.code, 1, first.stderr)
        assert.deepStrictEqual(JSON.parse(first.stdout), { read: 4, inserted: 2, updated: 0, skipped: 0, invalid: 2 })
        const reported = readFileSync(errors, "utf8").trim().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(reported.map((r) => r.line), [2, 4])
        assert.match(reported[0].reason, /^invalid JSON/)
        assert.strictEqual(reported[1].task_id, ids[1])
        assert.notMatch(first.stderr, /invalid:/)

        // Only the valid lines, from stdin: every record skipped by rule, exit 0; invalid ones on stderr.
        const valid = readFileSync(file, "utf8").split("\n").filter((line) =>
          line.startsWith("{\"task_id\":\"") && line.includes("messages")
        )
        const again = await taskd(target, ["snapshots", "import", "-"], { input: valid.join("\n") })
        assert.strictEqual(again.code, 0, again.stderr)
        assert.match(again.stdout, /read 2, inserted 0, updated 0, skipped 2, invalid 0/)

        const stderrReport = await taskd(target, ["snapshots", "import", file, "--dry-run"])
        assert.strictEqual(stderrReport.code, 1)
        assert.match(stderrReport.stderr, /invalid: line 2: invalid JSON/)
        assert.match(stderrReport.stdout, /dry run/)

        const missing = await taskd(target, ["snapshots", "import", Path.join(scratch, "no-such-file")])
        assert.strictEqual(missing.code, 2)
        assert.match(missing.stderr, /^error: cannot read/m)

        if (kind === "pglite") {
          // The data directory is in use (held open by this process): a clear message and exit 2.
          const held = await Effect.runPromise(
            Effect.gen(function*() {
              const scope = yield* Effect.scope
              yield* Layer.buildWithScope(target.layer(), scope)
              return yield* Effect.promise(() => taskd(target, ["snapshots", "import", file]))
            }).pipe(Effect.scoped)
          )
          assert.strictEqual(held.code, 2, held.stderr)
          assert.match(held.stderr, /in use by another process/)
          assert.match(held.stderr, /set DATABASE_URL/)
        } else {
          const unreachable = await taskd(
            { ...target, env: { DATABASE_URL: "postgres://postgres@127.0.0.1:5432/taskd_no_such_db" } },
            ["snapshots", "import", file]
          )
          assert.strictEqual(unreachable.code, 2)
          assert.match(unreachable.stderr, /^error: /m)
        }
      } finally {
        await target.drop()
      }
    }, 120_000)

    it("--resume after SIGINT and after SIGKILL ends as an uninterrupted run; export gives it back", async () => {
      const target = await freshTarget(kind)
      try {
        const tasks = 200
        const ids = await makeTasks(target, tasks)
        const n = 8_000
        const file = Path.join(scratch, `resume-${kind}.ndjson`)
        const lines: Array<string> = []
        for (let i = 0; i < n; i++) {
          lines.push(JSON.stringify({
            task_id: ids[i % tasks],
            captured_at: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
            messages: [message(i)]
          }))
        }
        writeFileSync(file, lines.join("\n") + "\n")
        const checkpoint = Path.join(scratch, `checkpoint-${kind}.json`)
        const args = [
          "snapshots",
          "import",
          file,
          "--batch-size",
          "50",
          "--resume",
          checkpoint,
          "--progress-interval",
          "0.2"
        ]

        const interrupted = await taskd(target, args, { whileRunning: killAt(checkpoint, 500, "SIGINT") })
        assert.strictEqual(interrupted.code, 130, interrupted.stderr)
        assert.match(interrupted.stderr, /interrupted: \d+ records committed/)
        const afterSigint = JSON.parse(readFileSync(checkpoint, "utf8"))
        assert.isFalse(afterSigint.complete)
        assert.isTrue(afterSigint.position >= 500 && afterSigint.position < n, String(afterSigint.position))
        assert.strictEqual(afterSigint.position % 50, 0)

        const killed = await taskd(target, args, {
          whileRunning: killAt(checkpoint, afterSigint.position + 500, "SIGKILL")
        })
        assert.strictEqual(killed.signal, "SIGKILL")
        const afterKill = JSON.parse(readFileSync(checkpoint, "utf8"))
        assert.isTrue(afterKill.position > afterSigint.position && afterKill.position < n, String(afterKill.position))

        const finished = await taskd(target, [...args, "--json"])
        assert.strictEqual(finished.code, 0, finished.stderr)
        const summary = JSON.parse(finished.stdout)
        assert.strictEqual(summary.read, n)
        assert.strictEqual(summary.invalid, 0)
        assert.isTrue(JSON.parse(readFileSync(checkpoint, "utf8")).complete)
        // On a pipe, progress is JSON lines.
        for (const line of finished.stderr.trim().split("\n").filter((l) => l !== "")) {
          assert.containsAllKeys(JSON.parse(line).progress, ["read", "inserted", "updated", "skipped", "invalid"])
        }

        // The end state of an uninterrupted run: each task holds its last (newest) record.
        const rows = await snapshotsOf(target)
        assert.strictEqual(rows.length, tasks)
        for (const row of rows) {
          const index = ids.indexOf(row.task_id)
          const last = n - tasks + index
          assert.deepStrictEqual(row.log_snapshot, { format: "agentapi", data: { messages: [message(last)] } })
          assert.strictEqual(row.log_snapshot_created_at.getTime(), Date.UTC(2025, 0, 1) + last * 1000)
        }

        const exported = await taskd(target, ["snapshots", "export", "--task", ids[3]!, "--task", ids[4]!])
        assert.strictEqual(exported.code, 0, exported.stderr)
        const records = exported.stdout.trim().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(records.map((r) => r.task_id), [ids[3], ids[4]].sort())
        assert.deepStrictEqual(records.find((r) => r.task_id === ids[3]), {
          task_id: ids[3],
          captured_at: new Date(Date.UTC(2025, 0, 1) + (n - tasks + 3) * 1000).toISOString().replace(".000", ""),
          format: "agentapi",
          messages: [message(n - tasks + 3)]
        })
      } finally {
        await target.drop()
      }
    }, 180_000)
  })
}
