/**
 * The live-conversation benchmark (issue 12): 1,000 subscribers of task event streams on one taskd, and
 * 20 agents (agentapi doubles in this process) each rewriting its last message 10 times a second. Each
 * update carries the time it was made; a subscriber that receives it measures the delivery latency (the
 * agent's change, taskd's recorder, the database, the change feed, the stream). Reports p50/p99 latency,
 * the server's CPU and its RSS growth over the run, against the targets (p99 <= 100 ms, RSS growth <= 100 MB).
 *
 * Run by `npm run bench` (scenario "streams"), or alone: `npm run bench -- --only streams`.
 */
import { PGlite } from "@electric-sql/pglite"
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, request, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import pg from "pg"
import { processCpuMs, rssOf, sleep, startTaskd, stopProcess } from "./processes.ts"
import * as Seed from "./seed.ts"

export const agents = 20
/** BENCH_STREAM_SUBSCRIBERS overrides it, to tell the server's share of the latency from the load generator's. */
export const subscribers = Number(process.env["BENCH_STREAM_SUBSCRIBERS"] ?? 1000)
export const updatesPerSecond = 10
export const targets = { p99Ms: 100, rssGrowthMiB: 100 }

const uuidOf = (text: string) => {
  const hex = createHash("md5").update(text).digest("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
const taskIdOf = (i: number) => uuidOf(`stream-task${i}`)
const taskName = (i: number) => `stream-t${String(i).padStart(2, "0")}`

// ---------------------------------------------------------------------------------------------------------
// The agents: agentapi's /events (replay on connect, then live), each rewriting its last message

interface Agent {
  readonly server: Server
  readonly url: string
  readonly tick: () => void
  readonly connections: () => number
}

const startAgent = (i: number): Promise<Agent> =>
  new Promise((resolve) => {
    const messages = [
      { id: 0, role: "agent", message: `agent ${i} ready`, time: "2026-12-02T10:00:00Z" },
      { id: 1, role: "user", message: "go", time: "2026-12-02T10:00:01Z" },
      { id: 2, role: "agent", message: "", time: "2026-12-02T10:00:02Z" }
    ]
    const open = new Set<ServerResponse>()
    let n = 0
    const send = (res: ServerResponse, event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    const server = createServer((req, res) => {
      if (req.url === "/events") {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        for (const message of messages) send(res, "message_update", message)
        send(res, "status_change", { status: "running", agent_type: "bench" })
        open.add(res)
        res.on("close", () => open.delete(res))
        return
      }
      if (req.url === "/status") {
        res.writeHead(200, { "content-type": "application/json" })
        return res.end(JSON.stringify({ status: "running", agent_type: "bench" }))
      }
      res.writeHead(404).end()
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      resolve({
        server,
        url: `http://127.0.0.1:${port}`,
        // The message grows like an agent's screen, and says when it changed.
        tick: () => {
          const last = messages[2]!
          last.message = `working ${++n} sent=${Date.now()} ${"x".repeat(200)}`
          for (const res of open) send(res, "message_update", last)
        },
        connections: () => open.size
      })
    })
  })

// ---------------------------------------------------------------------------------------------------------
// The subscribers: raw SSE readers that time every message event

interface Subscriber {
  readonly close: () => void
  readonly connected: Promise<boolean>
}

const subscribe = (url: string, i: number, onLatency: (ms: number) => void): Subscriber => {
  let buffer = ""
  let settle: (ok: boolean) => void = () => {}
  const connected = new Promise<boolean>((resolve) => settle = resolve)
  const req = request(`${url}/api/v2/tasks/${Seed.username(1)}/${taskName(i)}/events`, {
    headers: { "coder-session-token": Seed.userToken(1), accept: "text/event-stream" }
  }, (res) => {
    settle(res.statusCode === 200)
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        // A message event has no `event:` line (`message` is SSE's default name).
        if (/^event: /m.test(block) || !block.includes("data: ")) continue
        const sent = /sent=(\d+)/.exec(block)
        if (sent !== null) onLatency(Date.now() - Number(sent[1]))
      }
    })
  })
  req.on("error", () => settle(false))
  req.end()
  return { close: () => req.destroy(), connected }
}

// ---------------------------------------------------------------------------------------------------------
// The database: the bench seed's users (tasks' owner: bench user 1), and 20 active tasks whose task app is
// an agent above

const seedSql = (agentUrls: ReadonlyArray<string>) => `
BEGIN;
INSERT INTO users (id, username, email, role, created_at)
VALUES (md5('user1')::uuid, '${Seed.username(1)}', 'u1@example.com', 'member', now());
INSERT INTO organization_members (organization_id, user_id, created_at)
SELECT id, md5('user1')::uuid, now() FROM organizations WHERE name = 'default';
INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, created_at)
VALUES ('bk00000001', sha256(convert_to('benchsecret00000000001', 'UTF8')), md5('user1')::uuid,
        now() + interval '1 year', now());
INSERT INTO templates (id, organization_id, name, created_at)
SELECT md5('stream-template')::uuid, id, 'stream-bench', now() FROM organizations WHERE name = 'default';
INSERT INTO template_versions (id, template_id, organization_id, has_ai_task, app_url, agent_command, created_at)
SELECT md5('stream-version')::uuid, md5('stream-template')::uuid, id, true, '', '', now()
FROM organizations WHERE name = 'default';
${
  agentUrls.map((url, k) => {
    const i = k + 1
    const id = (what: string) => `md5('stream-${what}${i}')::uuid`
    return `
INSERT INTO workspaces (id, organization_id, owner_id, template_id, name, created_at, updated_at)
SELECT ${id("ws")}, id, md5('user1')::uuid, md5('stream-template')::uuid, '${taskName(i)}', now(), now()
FROM organizations WHERE name = 'default';
INSERT INTO tasks (id, organization_id, owner_id, name, workspace_id, template_version_id, prompt, created_at)
SELECT '${taskIdOf(i)}'::uuid, id, md5('user1')::uuid, '${taskName(i)}', ${id("ws")}, md5('stream-version')::uuid,
       'benchmark', now() FROM organizations WHERE name = 'default';
INSERT INTO provisioner_jobs (id, organization_id, job_status, created_at, updated_at, completed_at)
SELECT ${id("job")}, id, 'succeeded', now(), now(), now() FROM organizations WHERE name = 'default';
INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition, initiator_id, job_id,
                              created_at)
VALUES (${id("build")}, ${id("ws")}, md5('stream-version')::uuid, 1, 'start', md5('user1')::uuid, ${id("job")}, now());
INSERT INTO workspace_agents (id, workspace_build_id, auth_token_hash, lifecycle_state, created_at, updated_at)
VALUES (${id("agent")}, ${id("build")}, sha256(convert_to('${uuidOf(`stream-token${i}`)}', 'UTF8')), 'ready', now(),
        now());
INSERT INTO workspace_apps (id, agent_id, slug, url, health, created_at)
VALUES (${id("app")}, ${id("agent")}, 'task-app', '${url}', 'healthy', now());
INSERT INTO task_workspace_apps (task_id, workspace_build_number, workspace_agent_id, workspace_app_id)
VALUES ('${taskIdOf(i)}'::uuid, 1, ${id("agent")}, ${id("app")});`
  }).join("\n")
}
COMMIT;
`

export interface StreamsResult {
  readonly backend: string
  readonly agents: number
  readonly subscribers: number
  readonly connected: number
  readonly updates: number
  readonly deliveries: number
  /** Deliveries expected if every update reached every subscriber of its task. */
  readonly expectedDeliveries: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** The server's CPU over the measured window, in percent of one core. */
  readonly serverCpuPercent: number
  /** This process's (agents and subscribers) CPU over the window, in percent of one core. */
  readonly loadCpuPercent: number
  readonly rssBeforeMiB: number
  readonly rssAfterMiB: number
  readonly rssGrowthMiB: number
  readonly meetsTargets: boolean
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024)

/** The benchmark on one backend: `postgres` (a fresh database on `adminUrl`) or `embedded`. */
export const run = async (
  backend: string,
  options: { readonly adminUrl: string; readonly warmup: number; readonly duration: number }
): Promise<StreamsResult> => {
  const started = await Promise.all(Array.from({ length: agents }, (_, k) => startAgent(k + 1)))
  const urls = started.map((agent) => agent.url)
  let env: Record<string, string>
  let cleanup: () => Promise<void>
  const limits = { TASKD_MAX_STREAMS_PER_USER: String(subscribers + 10) }
  let server
  if (backend === "postgres") {
    const name = `taskd_bench_streams_${Date.now()}`
    const admin = new pg.Client({ connectionString: options.adminUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    const url = new URL(options.adminUrl)
    url.pathname = `/${name}`
    env = { DATABASE_URL: url.toString(), ...limits }
    server = await startTaskd(env, false)
    const client = new pg.Client({ connectionString: url.toString() })
    await client.connect()
    await client.query(seedSql(urls))
    await client.end()
    cleanup = async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  } else {
    const dataDir = mkdtempSync(Path.join(Os.tmpdir(), "taskd-bench-streams-"))
    env = { TASKD_DATA_DIR: dataDir, ...limits }
    await stopProcess(await startTaskd(env, false))
    const db = await PGlite.create(dataDir)
    await db.exec(seedSql(urls))
    await db.close()
    server = await startTaskd(env, false)
    cleanup = async () => rmSync(dataDir, { recursive: true, force: true })
  }
  const pid = server.child.pid!
  const latencies: Array<number> = []
  let measuring = false
  let open: Array<Subscriber> = []
  let timer: ReturnType<typeof setInterval> | undefined
  try {
    // The recorders connect to every agent (the change of a task's recorder is taskd's business).
    const deadline = Date.now() + 30_000
    while (started.some((agent) => agent.connections() === 0)) {
      if (Date.now() > deadline) throw new Error("taskd's recorders did not connect to every agent within 30 s")
      await sleep(100)
    }
    open = Array.from(
      { length: subscribers },
      (_, k) => subscribe(server.url, (k % agents) + 1, (ms) => measuring && latencies.push(ms))
    )
    const connected = (await Promise.all(open.map((s) => s.connected))).filter(Boolean).length
    let updates = 0
    timer = setInterval(() => {
      for (const agent of started) agent.tick()
      if (measuring) updates += agents
    }, 1000 / updatesPerSecond)
    await sleep(options.warmup * 1000)
    const rssBefore = rssOf(pid)
    const cpuBefore = processCpuMs(pid)
    const loadBefore = process.cpuUsage()
    measuring = true
    await sleep(options.duration * 1000)
    measuring = false
    const cpuMs = processCpuMs(pid) - cpuBefore
    const load = process.cpuUsage(loadBefore)
    // Let deliveries in flight land before reading memory.
    await sleep(500)
    const rssAfter = rssOf(pid)
    const sorted = [...latencies].sort((a, b) => a - b)
    const at = (q: number) =>
      sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
    const result: StreamsResult = {
      backend,
      agents,
      subscribers,
      connected,
      updates,
      deliveries: latencies.length,
      expectedDeliveries: updates * (subscribers / agents),
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: sorted.at(-1) ?? Number.NaN,
      serverCpuPercent: Math.round(cpuMs / (options.duration * 10)),
      loadCpuPercent: Math.round((load.user + load.system) / 1000 / (options.duration * 10)),
      rssBeforeMiB: mib(rssBefore),
      rssAfterMiB: mib(rssAfter),
      rssGrowthMiB: mib(rssAfter - rssBefore),
      meetsTargets: at(0.99) <= targets.p99Ms && mib(rssAfter - rssBefore) <= targets.rssGrowthMiB
    }
    return result
  } finally {
    if (timer !== undefined) clearInterval(timer)
    for (const subscriber of open) subscriber.close()
    await stopProcess(server)
    for (const agent of started) {
      agent.server.closeAllConnections()
      agent.server.close()
    }
    await cleanup()
  }
}

/** One line per result, with the targets. */
export const describe = (result: StreamsResult) =>
  `${result.backend}/streams: ${result.connected}/${result.subscribers} subscribers, ${result.agents} agents x ` +
  `${updatesPerSecond}/s; delivered ${result.deliveries} of ${result.expectedDeliveries}; latency p50 ` +
  `${result.p50Ms} ms, p99 ${result.p99Ms} ms (target <= ${targets.p99Ms}), max ${result.maxMs} ms; server CPU ` +
  `${result.serverCpuPercent}% of a core (load generator ${result.loadCpuPercent}%); RSS ${result.rssBeforeMiB} -> ${result.rssAfterMiB} MiB (growth ` +
  `${result.rssGrowthMiB}, target <= ${targets.rssGrowthMiB}); ${result.meetsTargets ? "meets" : "MISSES"} the targets`
