/**
 * The taskd benchmarks (issue #7): the server and its database on this machine, the load from this
 * process with autocannon, each scenario warmed up and then measured. Prints a table and writes the same
 * as JSON to scripts/bench/results/.
 *
 *   npm run bench -- [--backend postgres|embedded|both] [--duration 10] [--warmup 3] [--only upload-8k,...]
 *                    [--rate 800]
 *
 * Real Postgres: a fresh database on PGADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * dropped afterwards. Embedded: a fresh TASKD_DATA_DIR in the temp folder, seeded before the server opens it.
 * On real Postgres the floor (scripts/bench/floor.ts) and the bare upsert loop run in the same run.
 * Both servers run as `npm start` runs taskd: the esbuild bundles of `npm run build`, on plain Node.
 */
import { PGlite } from "@electric-sql/pglite"
import autocannon from "autocannon"
import type { Options as LoadOptions } from "autocannon"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import pg from "pg"
import {
  httpStatus,
  postgresCpuMs,
  type Proc,
  processCpuMs,
  root,
  rssOf,
  rssSampler,
  sleep,
  startProcess,
  startTaskd,
  stopProcess
} from "./processes.ts"
import * as Seed from "./seed.ts"
import { upsertQuery } from "./statements.ts"
import * as Streams from "./streams.ts"

const args = process.argv.slice(2)
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : args[i + 1]!
}
const backends = arg("backend", "both") === "both" ? ["postgres", "embedded"] : [arg("backend", "both")]
const duration = Number(arg("duration", "10"))
const warmup = Number(arg("warmup", "3"))
const only = arg("only", "").split(",").filter((s) => s !== "")
// A fixed request rate (all connections together) instead of as fast as the server answers: CPU per request
// compares steadier across builds below saturation, where contention does not move it.
const rate = Number(arg("rate", "0"))
const adminUrl = process.env["PGADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"
const poolSize = Number(process.env["TASKD_PG_POOL"] ?? 10)

const startFloor = (databaseUrl: string) =>
  startProcess(
    ["dist/scripts/bench/floor.js"],
    { DATABASE_URL: databaseUrl, POOL: String(poolSize) },
    async (url) => (await httpStatus(`${url}/`)) === 404
  )

// ---------------------------------------------------------------------------------------------------------
// Load

/** A 10-message agentapi payload of about `bytes` bytes for agent/task i. */
const payload = (i: number, bytes: number) => {
  const per = Math.floor((bytes - 40) / 10) - 80
  const messages = Array.from({ length: 10 }, (_, k) => ({
    id: k,
    role: k % 2 === 0 ? "agent" : "user",
    content: `task ${i} message ${k}: ${"lorem ipsum dolor sit amet ".repeat(Math.ceil(per / 27))}`.slice(0, per),
    time: "2025-01-01T10:00:00Z"
  }))
  return JSON.stringify({ messages })
}

interface Measured {
  readonly scenario: string
  readonly backend: string
  readonly server: string
  readonly connections: number
  readonly reqPerSec: number
  readonly p50: number
  readonly p99: number
  readonly requests: number
  readonly errors: number
  readonly peakRssMiB: number
  /** CPU time per request of the server process, of Postgres, and of the load generator, in ms. */
  readonly cpuMsPerRequest?: { readonly server: number; readonly postgres: number; readonly load: number }
  readonly note?: string
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024)

/** Warms up, then measures; the RSS of `pid` is sampled through both. */
const measure = async (
  name: string,
  labels: { backend: string; server: string },
  pid: number,
  options: Omit<LoadOptions, "duration">,
  note?: string
): Promise<Measured> => {
  process.stdout.write(`  ${labels.server}/${name} ...`)
  const sampler = rssSampler(pid)
  if (rate > 0) options = { ...options, overallRate: rate }
  await autocannon({ ...options, duration: warmup, timeout: 30 })
  const cpuBefore = { server: processCpuMs(pid), postgres: postgresCpuMs(), load: process.cpuUsage() }
  const result = await autocannon({ ...options, duration, timeout: 30 })
  const load = process.cpuUsage(cpuBefore.load)
  const perRequest = (ms: number) => +(ms / Math.max(1, result.requests.total)).toFixed(2)
  const cpuMsPerRequest = {
    server: perRequest(processCpuMs(pid) - cpuBefore.server),
    postgres: perRequest(postgresCpuMs() - cpuBefore.postgres),
    load: perRequest((load.user + load.system) / 1000)
  }
  const peak = sampler.stop()
  const row: Measured = {
    scenario: name,
    ...labels,
    connections: options.connections ?? 1,
    reqPerSec: Math.round(result.requests.total / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    peakRssMiB: mib(peak),
    cpuMsPerRequest,
    ...(note === undefined ? {} : { note })
  }
  console.log(
    ` ${row.reqPerSec} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.errors}, RSS ${row.peakRssMiB} MiB, ` +
      `CPU ms/req server ${cpuMsPerRequest.server} postgres ${cpuMsPerRequest.postgres} load ${cpuMsPerRequest.load}`
  )
  if (result.non2xx > 0) console.log(`    status codes: ${JSON.stringify(result.statusCodeStats)}`)
  return row
}

/** 64 agents, one connection each, each uploading to its own task. */
const uploadLoad = (url: string, bytes: number): Omit<LoadOptions, "duration"> => {
  let next = 0
  const bodies = Array.from({ length: Seed.uploadTasks }, (_, k) => payload(k + 1, bytes))
  return {
    url,
    connections: Seed.uploadTasks,
    setupClient: (client) => {
      const i = (next++ % Seed.uploadTasks) + 1
      client.setRequests([{
        method: "POST",
        path: `/api/v2/workspaceagents/me/tasks/${Seed.taskId(i)}/log-snapshot?format=agentapi`,
        headers: { "coder-session-token": Seed.agentToken(i), "content-type": "application/json" },
        body: bodies[i - 1]!
      }])
    }
  }
}

const logsLoad = (url: string): Omit<LoadOptions, "duration"> => {
  let next = 0
  return {
    url,
    connections: 64,
    setupClient: (client) => {
      const i = Seed.uploadTasks + (next++ % Seed.pausedTasks) + 1
      const owner = Seed.ownerOf(i)
      client.setRequests([{
        method: "GET",
        path: `/api/v2/tasks/${Seed.username(owner)}/${Seed.taskName(i)}/logs`,
        headers: { "coder-session-token": Seed.userToken(owner) }
      }])
    }
  }
}

const memberListLoad = (url: string, connections: number): Omit<LoadOptions, "duration"> => {
  let next = 0
  return {
    url,
    connections,
    setupClient: (client) => {
      const u = (next++ % Seed.users) + 1
      client.setRequests([{
        method: "GET",
        path: `/api/v2/tasks?q=${encodeURIComponent(`owner:${Seed.username(u)}`)}`,
        headers: { "coder-session-token": Seed.userToken(u) }
      }])
    }
  }
}

const ownerListLoad = (url: string, connections: number): Omit<LoadOptions, "duration"> => ({
  url,
  connections,
  requests: [{ method: "GET", path: "/api/v2/tasks", headers: { "coder-session-token": Seed.adminToken } }]
})

const createLoad = (url: string, connections: number): Omit<LoadOptions, "duration"> => {
  let n = 0
  const run = Date.now().toString(36)
  return {
    url,
    connections,
    requests: [{
      method: "POST",
      path: "/api/v2/tasks/me",
      headers: { "coder-session-token": Seed.adminToken, "content-type": "application/json" },
      setupRequest: (req) => ({
        ...req,
        body: JSON.stringify({
          template_version_id: Seed.versionId,
          input: "benchmark",
          name: `c${run}-${n++}`
        })
      })
    }]
  }
}

/** Checks one response of the scenario, so a benchmark of wrong answers is not mistaken for a fast one. */
const probe = (url: string, path: string, headers: Record<string, string>) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, { headers }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d) => body += d)
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.end()
  })

/**
 * Streams a 100 MB upload, chunked or with its Content-Length declared; returns the status the server
 * answered with, or 0 when the connection was reset before the answer could be read.
 */
const hugeUpload = (url: string, chunked: boolean) =>
  new Promise<number>((resolve) => {
    const total = 100 * 1024 * 1024
    const chunk = Buffer.alloc(64 * 1024, "x")
    let sent = 0
    let answered = false
    const req = request(`${url}/api/v2/workspaceagents/me/tasks/${Seed.taskId(1)}/log-snapshot?format=agentapi`, {
      method: "POST",
      headers: {
        "coder-session-token": Seed.agentToken(1),
        ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(total) })
      }
    }, (res) => {
      answered = true
      res.resume()
      resolve(res.statusCode ?? 0)
      req.destroy()
    })
    req.on("error", () => {
      if (!answered) resolve(0)
    })
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once("drain", pump)
      }
      if (!answered) req.end()
    }
    pump()
  })

// ---------------------------------------------------------------------------------------------------------
// The database's own limit: the upsert statement in a tight loop

const bareUpsert = async (databaseUrl: string, bytes: number): Promise<Measured> => {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize })
  const envelopes = Array.from(
    { length: Seed.uploadTasks },
    (_, k) => JSON.stringify({ format: "agentapi", data: JSON.parse(payload(k + 1, bytes)) })
  )

  const run = async (seconds: number) => {
    const latencies: Array<number> = []
    const end = Date.now() + seconds * 1000
    await Promise.all(Array.from({ length: Seed.uploadTasks }, async (_, k) => {
      while (Date.now() < end) {
        const started = performance.now()
        await pool.query(upsertQuery, [Seed.taskId(k + 1), envelopes[k]!, new Date()])
        latencies.push(performance.now() - started)
      }
    }))
    return latencies
  }
  process.stdout.write(`  upsert-loop ...`)
  await run(warmup)
  const postgresBefore = postgresCpuMs()
  const latencies = (await run(duration)).sort((a, b) => a - b)
  const postgresMs = postgresCpuMs() - postgresBefore
  await pool.end()
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!)
  const row: Measured = {
    scenario: `upload-${bytes >> 10}k`,
    backend: "postgres",
    server: "upsert-loop",
    connections: Seed.uploadTasks,
    reqPerSec: Math.round(latencies.length / duration),
    p50: at(0.5),
    p99: at(0.99),
    requests: latencies.length,
    errors: 0,
    peakRssMiB: 0,
    cpuMsPerRequest: { server: 0, postgres: +(postgresMs / Math.max(1, latencies.length)).toFixed(2), load: 0 },
    note: `pool ${poolSize}`
  }
  console.log(` ${row.reqPerSec} upserts/s, p50 ${row.p50} ms, p99 ${row.p99} ms`)
  return row
}

// ---------------------------------------------------------------------------------------------------------
// One backend

const want = (name: string) => only.length === 0 || only.some((o) => name.startsWith(o))

const runBackend = async (backend: string): Promise<{ rows: Array<Measured>; extra: Record<string, unknown> }> => {
  const rows: Array<Measured> = []
  const extra: Record<string, unknown> = {}
  let env: Record<string, string>
  let databaseUrl: string | undefined
  let cleanup: () => Promise<void>
  const started = Date.now()
  let server: Proc
  if (backend === "postgres") {
    const name = `taskd_bench_${Date.now()}`
    const admin = new pg.Client({ connectionString: adminUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    databaseUrl = url.toString()
    env = { DATABASE_URL: databaseUrl, TASKD_PG_POOL: String(poolSize) }
    server = await startTaskd(env, false)
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    await client.query(Seed.seedSql)
    extra["postgresVersion"] = (await client.query("SHOW server_version")).rows[0].server_version
    await client.end()
    cleanup = async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  } else {
    const dataDir = mkdtempSync(Path.join(Os.tmpdir(), "taskd-bench-"))
    env = { TASKD_DATA_DIR: dataDir }
    // PGlite allows one process: migrate and bootstrap through taskd, then seed with taskd stopped.
    await stopProcess(await startTaskd(env, false))
    const db = await PGlite.create(dataDir)
    await db.exec(Seed.seedSql)
    await db.close()
    server = await startTaskd(env, process.env["BENCH_CPU_PROF"] === "1")
    cleanup = async () => rmSync(dataDir, { recursive: true, force: true })
  }
  console.log(`${backend}: seeded ${Seed.totalTasks} tasks in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  if (backend === "postgres" && process.env["BENCH_CPU_PROF"] === "1") {
    await stopProcess(server)
    server = await startTaskd(env, true)
  }
  const pid = server.child.pid!
  const labels = { backend, server: "taskd" }
  const floor = databaseUrl === undefined ? undefined : await startFloor(databaseUrl)
  try {
    // Sanity checks: each scenario's request gets the answer it should.
    const logs = await probe(server.url, `/api/v2/tasks/${Seed.username(Seed.ownerOf(65))}/${Seed.taskName(65)}/logs`, {
      "coder-session-token": Seed.userToken(Seed.ownerOf(65))
    })
    if (logs.status !== 200 || !logs.body.includes("\"snapshot\":true")) throw new Error(`logs probe: ${logs.status}`)
    const member = await probe(server.url, `/api/v2/tasks?q=owner:${Seed.username(1)}`, {
      "coder-session-token": Seed.userToken(1)
    })
    const memberCount = JSON.parse(member.body).count
    const all = await probe(server.url, `/api/v2/tasks`, { "coder-session-token": Seed.adminToken })
    const allCount = JSON.parse(all.body).count
    console.log(`  probes: member lists ${memberCount} tasks, owner lists ${allCount} (${mib(all.body.length)} MiB)`)
    if (memberCount !== Seed.tasksPerUser || allCount !== Seed.totalTasks) throw new Error("list probe")
    extra["ownerListBytes"] = all.body.length

    // Each upload size: taskd, then the floor and the bare upsert on the same database, back to back, so
    // that the ratios compare runs under the same conditions.
    for (const [name, bytes] of [["upload-8k", 8 * 1024], ["upload-60k", 60 * 1024]] as const) {
      if (!want(name)) continue
      rows.push(await measure(name, labels, pid, uploadLoad(server.url, bytes)))
      if (floor !== undefined) {
        rows.push(await measure(name, { backend, server: "floor" }, floor.child.pid!, uploadLoad(floor.url, bytes)))
        rows.push(await bareUpsert(databaseUrl!, bytes))
      }
    }
    if (want("upload-100m")) {
      await sleep(500)
      const before = rssOf(pid)
      const sampler = rssSampler(pid)
      const status = { declared: await hugeUpload(server.url, false), chunked: await hugeUpload(server.url, true) }
      await sleep(500)
      const peak = sampler.stop()
      extra["upload100m"] = { status, rssBeforeMiB: mib(before), peakRssMiB: mib(peak), deltaMiB: mib(peak - before) }
      console.log(
        `  taskd/upload-100m: status ${JSON.stringify(status)} (0 = reset), RSS ${mib(before)} -> peak ${mib(peak)} MiB`
      )
    }
    if (want("logs")) rows.push(await measure("logs", labels, pid, logsLoad(server.url)))
    // The list targets are latencies of one client (a member's dashboard, the owner listing everything);
    // the 16-client row shows what many dashboards polling at once get.
    if (want("list-member")) rows.push(await measure("list-member", labels, pid, memberListLoad(server.url, 1)))
    if (want("list-member")) rows.push(await measure("list-member", labels, pid, memberListLoad(server.url, 16)))
    if (want("list-owner")) rows.push(await measure("list-owner", labels, pid, ownerListLoad(server.url, 1)))
    if (want("create")) rows.push(await measure("create", labels, pid, createLoad(server.url, 16)))
  } finally {
    await stopProcess(server)
    if (floor !== undefined) await stopProcess(floor)
  }

  await cleanup()
  return { rows, extra }
}

// ---------------------------------------------------------------------------------------------------------

const pad = (s: string | number, n: number) => String(s).padStart(n)

const table = (rows: ReadonlyArray<Measured>) => {
  const header = `${"backend".padEnd(9)} ${"server".padEnd(12)} ${"scenario".padEnd(12)} ${pad("conns", 5)} ` +
    `${pad("req/s", 7)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("errors", 6)} ${pad("peak RSS", 9)} ` +
    `${pad("cpu ms/req srv", 14)} ${pad("pg", 5)}`
  const lines = rows.map((r) =>
    `${r.backend.padEnd(9)} ${r.server.padEnd(12)} ${r.scenario.padEnd(12)} ${pad(r.connections, 5)} ` +
    `${pad(r.reqPerSec, 7)} ${pad(r.p50, 7)} ${pad(r.p99, 7)} ${pad(r.errors, 6)} ` +
    `${pad(r.peakRssMiB === 0 ? "-" : `${r.peakRssMiB} MiB`, 9)} ` +
    `${pad(r.cpuMsPerRequest?.server ?? "-", 14)} ${pad(r.cpuMsPerRequest?.postgres ?? "-", 5)}`
  )
  return [header, "-".repeat(header.length), ...lines].join("\n")
}

const ratios = (rows: ReadonlyArray<Measured>) => {
  const out: Array<Record<string, unknown>> = []
  for (const scenario of ["upload-8k", "upload-60k"]) {
    const find = (server: string) =>
      rows.find((r) => r.backend === "postgres" && r.server === server && r.scenario === scenario)
    const taskd = find("taskd"), floor = find("floor"), loop = find("upsert-loop")
    if (taskd === undefined || floor === undefined || loop === undefined) continue
    out.push({
      scenario,
      "taskd/floor req/s": +(taskd.reqPerSec / floor.reqPerSec).toFixed(2),
      "taskd/floor p99": +(taskd.p99 / Math.max(1, floor.p99)).toFixed(2),
      "taskd/upsert-loop req/s": +(taskd.reqPerSec / loop.reqPerSec).toFixed(2),
      "floor/upsert-loop req/s": +(floor.reqPerSec / loop.reqPerSec).toFixed(2)
    })
  }
  return out
}

const main = async () => {
  const machine = {
    cpus: `${Os.cpus().length} x ${Os.cpus()[0]?.model ?? "?"}`,
    memoryGiB: +(Os.totalmem() / 1024 ** 3).toFixed(1),
    node: process.version,
    platform: `${Os.type()} ${Os.release()}`,
    pool: poolSize,
    warmupSeconds: warmup,
    durationSeconds: duration
  }
  console.log(`machine: ${JSON.stringify(machine)}`)
  const rows: Array<Measured> = []
  const extras: Record<string, unknown> = {}
  // `--only streams` needs none of the request scenarios' servers and seed.
  const requestScenarios = only.length === 0 || only.some((o) => !"streams".startsWith(o))
  for (const backend of requestScenarios ? backends : []) {
    const result = await runBackend(backend)
    rows.push(...result.rows)
    extras[backend] = result.extra
  }
  // The live-conversation benchmark runs on a server and database of its own.
  const streams: Array<Streams.StreamsResult> = []
  if (want("streams")) {
    for (const backend of backends) {
      process.stdout.write(`${backend}/streams ...`)
      const result = await Streams.run(backend, { adminUrl, warmup, duration })
      console.log(" done")
      streams.push(result)
    }
  }
  console.log()
  console.log(table(rows))
  const ratioRows = ratios(rows)
  for (const r of ratioRows) console.log(JSON.stringify(r))
  for (const [backend, extra] of Object.entries(extras)) {
    const huge = (extra as { upload100m?: { deltaMiB: number; status: unknown } }).upload100m
    if (huge !== undefined) {
      console.log(
        `${backend}: 100 MB upload attempts answered ${JSON.stringify(huge.status)}, RSS +${huge.deltaMiB} MiB`
      )
    }
  }
  for (const result of streams) console.log(Streams.describe(result))
  const dir = Path.join(root, "scripts/bench/results")
  mkdirSync(dir, { recursive: true })
  const file = Path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
  writeFileSync(file, JSON.stringify({ machine, rows, ratios: ratioRows, extras, streams }, null, 2))
  console.log(`\nwrote ${Path.relative(root, file)}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
