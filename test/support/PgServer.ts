/**
 * A Postgres server owned by one test file: its own data directory and port, started and stopped at
 * will (to simulate an outage), removed with the scope. Runs as the `postgres` user when the tests run
 * as root, since postgres refuses to run as root.
 */
import * as Effect from "effect/Effect"
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { freePort } from "./Net.ts"

const binDir = process.env["PG_BIN_DIR"] ?? "/usr/lib/postgresql/15/bin"

/** True when the binaries to run a Postgres server of our own are here. */
export const available = existsSync(Path.join(binDir, "initdb")) && existsSync(Path.join(binDir, "pg_ctl")) &&
  (process.getuid?.() !== 0 || spawnSync("id", ["-u", "postgres"]).status === 0)

export interface PgServer {
  readonly url: string
  readonly port: number
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
}

const asRoot = process.getuid?.() === 0

const run = (command: string, args: ReadonlyArray<string>) => {
  const [file, argv] = asRoot
    ? ["runuser", ["-u", "postgres", "--", Path.join(binDir, command), ...args]]
    : [Path.join(binDir, command), [...args]]
  execFileSync(file, argv, { stdio: "pipe", timeout: 60_000 })
}

/** initdb, then start on a free port; stopped and deleted when the scope closes. */
export const make = Effect.acquireRelease(
  Effect.flatMap(freePort, (port) =>
    Effect.sync(() => {
      const dir = mkdtempSync(Path.join(tmpdir(), "taskd-pg-"))
      const data = Path.join(dir, "data")
      if (asRoot) {
        execFileSync("chown", ["postgres", dir])
        chmodSync(dir, 0o700)
      }
      run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
      const options = `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`
      const pgStart = () =>
        run("pg_ctl", ["-D", data, "-o", options, "-w", "-t", "30", "-l", Path.join(dir, "log"), "start"])
      const pgStop = () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"])
      pgStart()
      return { dir, data, port, pgStart, pgStop }
    })),
  ({ dir, pgStop }) =>
    Effect.sync(() => {
      try {
        pgStop()
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true })
    })
).pipe(
  Effect.map(({ pgStart, pgStop, port }): PgServer => ({
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: Effect.sync(pgStop),
    start: Effect.sync(pgStart)
  }))
)
