/**
 * `taskd serve` as a child process (`node src/main.ts serve`, Node 22 strips the types), in its own process group,
 * with its output captured. Every wait is bounded; the whole group is killed when the scope closes.
 */
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { type RawResponse, sendJson } from "./Http.ts"
import { freePort } from "./Net.ts"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** A fixed admin token, so that every instance on one database knows it. */
export const bootstrapToken = "taskdtests-0123456789abcdefghijkl"

export interface Child {
  readonly url: string
  readonly pid: number
  readonly process: ChildProcess
  /** Everything the server printed so far (stdout and stderr). */
  readonly output: () => string
  /** Sends `signal` to the server's process group. */
  readonly signal: (signal: NodeJS.Signals) => void
  /** Waits for the exit (at most `timeoutMs`); the exit code, or the signal that ended it. */
  readonly exited: (timeoutMs: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const killGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is already gone.
  }
}

/**
 * Starts `taskd serve` with `env` added and `args` after `serve` (a `--log-level`, say), and waits (at
 * most 60 s) until `GET /healthz` answers 200.
 */
export const start = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.flatMap(freePort, (port) => Effect.promise(() => spawnServe(port, env, args))),
    (child) =>
      Effect.promise(async () => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return
        child.signal("SIGKILL")
        await child.exited(10_000).catch(() => undefined)
      })
  )

const spawnServe = async (port: number, env: Record<string, string>, args: ReadonlyArray<string>): Promise<Child> => {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TASKD_BOOTSTRAP_TOKEN: bootstrapToken }
  for (const name of ["DATABASE_URL", "PORT", "HOST", "TASKD_DATA_DIR"]) delete childEnv[name]
  const child = spawn(process.execPath, [
    "src/main.ts",
    "serve",
    // The CLI's global flags (--log-level) are read only before the command's own.
    ...args,
    "--port",
    String(port)
  ], {
    cwd: root,
    env: { ...childEnv, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => output += chunk)
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => output += chunk)
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`taskd serve exited early (${child.exitCode ?? child.signalCode}):\n${output}`)
    }
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false)
    if (ok) break
    if (Date.now() > deadline) {
      killGroup(child.pid!, "SIGKILL")
      throw new Error(`taskd serve did not become healthy within 60 s:\n${output}`)
    }
    await sleep(150)
  }
  return {
    url,
    pid: child.pid!,
    process: child,
    output: () => output,
    signal: (signal) => killGroup(child.pid!, signal),
    exited: (timeoutMs) =>
      Promise.race([
        exit,
        sleep(timeoutMs).then(() => {
          throw new Error(`taskd did not exit within ${timeoutMs} ms:\n${output}`)
        })
      ])
  }
}

/** JSON over fetch against a child server (Http.sendJson), with the admin token unless another is given. */
export const call = (
  base: string,
  method: string,
  path: string,
  options: { readonly token?: string; readonly body?: unknown } = {}
): Promise<RawResponse> => sendJson(base, method, path, options.token ?? bootstrapToken, options.body)
