/**
 * The processes of a benchmark run: starting taskd (as `npm start` runs it) and other servers on free
 * ports, stopping them, and reading their memory and CPU time from /proc.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { request } from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Seed from "./seed.ts"

export const root = fileURLToPath(new URL("../../", import.meta.url))

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Proc {
  readonly child: ChildProcess
  readonly port: number
  readonly url: string
}

export const rssOf = (pid: number): number => {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

/** Samples the RSS of `pid` every 25 ms until stopped; returns the peak. */
export const rssSampler = (pid: number) => {
  let peak = rssOf(pid)
  const timer = setInterval(() => peak = Math.max(peak, rssOf(pid)), 25)
  return { stop: () => (clearInterval(timer), Math.max(peak, rssOf(pid))) }
}

/** CPU time (user + system) of a process in ms, from /proc (clock ticks of 10 ms). */
const cpuMsOf = (stat: string) => {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}
export const processCpuMs = (pid: number) => {
  try {
    return cpuMsOf(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return 0
  }
}
/** CPU time of every Postgres process on the machine (the bench's database is the only busy one). */
export const postgresCpuMs = () => {
  let total = 0
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      if (stat.includes("(postgres)")) total += cpuMsOf(stat)
    } catch {
      // the process ended while we looked
    }
  }
  return total
}

let nextPort = 18_000 + Math.floor(Math.random() * 1000)

export const httpStatus = (url: string, headers: Record<string, string> = {}) =>
  new Promise<number>((resolve) => {
    const req = request(url, { headers }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on("error", () => resolve(0))
    req.end()
  })

export const startProcess = async (
  script: Array<string>,
  env: Record<string, string>,
  ready: (url: string) => Promise<boolean>
): Promise<Proc> => {
  const port = nextPort++
  const child = spawn(process.execPath, script, {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (d) => output += d)
  child.stderr!.on("data", (d) => output += d)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${script.join(" ")} exited: ${output}`)
    if (await ready(url)) return { child, port, url }
    await sleep(100)
  }
  child.kill("SIGKILL")
  throw new Error(`${script.join(" ")} did not start: ${output}`)
}

export const stopProcess = async (proc: Proc) => {
  if (proc.child.exitCode !== null) return
  const exited = new Promise((resolve) => proc.child.once("exit", resolve))
  proc.child.kill("SIGTERM")
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 10_000)
  await exited
  clearTimeout(timer)
}

export const startTaskd = (env: Record<string, string>, cpuProf: boolean) =>
  startProcess(
    [
      ...(cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${Path.join(root, "scripts/bench/results/profiles")}`] : []),
      // As `npm start` runs it (package.json): a smaller young generation, ~30 MB less RSS under uploads.
      "--max-semi-space-size=8",
      "dist/src/main.js",
      "serve"
    ],
    { ...env, TASKD_BOOTSTRAP_TOKEN: Seed.adminToken },
    async (url) => (await httpStatus(`${url}/api/v2/users/me`, { "coder-session-token": Seed.adminToken })) === 200
  )
