/**
 * CI's Deno smoke test, HTTP only (`npm run smoke:deno`): starts `taskd serve`
 * under Deno on a free port with an in-memory database, reads the admin token it prints, walks a task
 * through create → initializing → pause → paused → logs (from the empty snapshot) → delete → 404, and
 * checks SIGTERM ends it with exit 0. Then the same under `Deno.serve` with the web handler
 * (scripts/deno-serve.ts), where a chunked body over 64 KiB must be refused with Coder's 400.
 *
 * Prints `ok - ...` / `not ok - ...` per check and ends with `smoke: N passed, N failed`.
 *
 * The servers run under Deno; this harness runs under Node (`node scripts/deno-smoke.ts`), because a Deno child
 * spawned through Deno's node:child_process was seen dying of SIGTERM instead of handling it (exit code
 * null), while the same server run from a shell or from Node exits 0.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** The Deno binary: this process's when it runs under Deno, else the one the `deno` npm package ships. */
const deno = process.env["DENO"] ??
  ("Deno" in globalThis ? process.execPath : fileURLToPath(new URL("../node_modules/deno/deno", import.meta.url)))
let passed = 0
let failed = 0

const check = async (name: string, body: () => Promise<void>) => {
  try {
    await body()
    passed++
    console.log(`ok - ${name}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

const expect = (condition: boolean, message: string) => {
  if (!condition) throw new Error(message)
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

interface Started {
  readonly child: ChildProcess
  readonly base: string
  readonly token: string
  readonly output: () => string
}

/** Starts a Deno server script and waits for the admin token and the listen line. */
const start = async (args: ReadonlyArray<string>, env: Record<string, string>): Promise<Started> => {
  const port = await freePort()
  const child = spawn(deno, ["run", "-A", ...args], {
    env: { ...process.env, TASKD_DATA_DIR: "memory://", PORT: String(port), ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk) => output += String(chunk))
  child.stderr!.on("data", (chunk) => output += String(chunk))
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const token = /session token \(shown only this once\): (\S+)/.exec(output)?.[1]
    if (token !== undefined && output.includes("Listening on")) {
      return { child, base: `http://127.0.0.1:${port}`, token, output: () => output }
    }
    if (child.exitCode !== null) break
    await sleep(100)
  }
  child.kill("SIGKILL")
  throw new Error(`the server did not start:\n${output}`)
}

/** SIGTERM, then the exit code, or an error after `withinMillis`. */
const stop = (child: ChildProcess, withinMillis: number) =>
  new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`still running ${withinMillis} ms after SIGTERM`))
    }, withinMillis)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve(code)
    })
    child.kill("SIGTERM")
  })

const api = async (base: string, token: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "coder-session-token": token, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, json: text === "" ? undefined : JSON.parse(text) }
}

const waitForStatus = async (
  base: string,
  token: string,
  path: string,
  want: (status: number, json: any) => boolean
) => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const response = await api(base, token, "GET", path)
    if (want(response.status, response.json)) return response
    await sleep(50)
  }
  throw new Error(`timed out waiting on ${path}`)
}

// --- taskd serve under Deno ---
let server: Started | undefined
await check("deno run -A src/main.ts serve starts on memory:// and prints the admin token", async () => {
  server = await start(["src/main.ts", "serve"], {})
})
if (server !== undefined) {
  const { base, token } = server
  let taskPath = ""
  await check("create a user, a template without agent_command, and a task", async () => {
    const user = await api(base, token, "POST", "/api/v2/users", { username: "smoke", email: "smoke@example.com" })
    expect(user.status === 201, `user: ${user.status}`)
    const key = await api(base, token, "POST", "/api/v2/users/smoke/keys")
    expect(key.status === 201, `key: ${key.status}`)
    const template = await api(base, token, "POST", "/api/v2/organizations/default/templates", {
      name: "smoke",
      app_url: "http://127.0.0.1:9"
    })
    expect(template.status === 201, `template: ${template.status}`)
    const task = await api(base, key.json.key, "POST", "/api/v2/tasks/me", {
      template_version_id: template.json.active_version_id,
      input: "smoke"
    })
    expect(task.status === 201, `task: ${task.status}`)
    taskPath = `/api/v2/tasks/smoke/${task.json.id}`
  })
  await check("the task becomes initializing", async () => {
    await waitForStatus(base, token, taskPath, (_, json) => json?.status === "initializing")
  })
  await check("pause answers 202 and the task becomes paused", async () => {
    const paused = await api(base, token, "POST", `${taskPath}/pause`)
    expect(paused.status === 202, `pause: ${paused.status}`)
    await waitForStatus(base, token, taskPath, (_, json) => json?.status === "paused")
  })
  await check("logs of the paused task come from the (empty) snapshot", async () => {
    const logs = await api(base, token, "GET", `${taskPath}/logs`)
    expect(logs.status === 200 && Array.isArray(logs.json.logs) && logs.json.logs.length === 0, JSON.stringify(logs))
  })
  await check("delete answers 202, then the task is 404 with Coder's body", async () => {
    const deleted = await api(base, token, "DELETE", taskPath)
    expect(deleted.status === 202, `delete: ${deleted.status}`)
    const gone = await waitForStatus(base, token, taskPath, (status) => status === 404)
    expect(typeof gone.json?.message === "string", JSON.stringify(gone.json))
  })
  await check("the OpenAPI document is served", async () => {
    const document = await api(base, token, "GET", "/api/v2/openapi.json")
    expect(document.status === 200 && document.json.openapi === "3.1.0", `openapi: ${document.status}`)
  })
  await check("SIGTERM ends taskd serve with exit 0 within 10 s", async () => {
    const code = await stop(server!.child, 10_000)
    expect(code === 0, `exit code ${code}\n${server!.output()}`)
  })
}

// --- Deno.serve with the web handler ---
const tokenFile = Path.join(mkdtempSync(Path.join(tmpdir(), "taskd-smoke-")), "agent-token")
let web: Started | undefined
await check("deno run -A scripts/deno-serve.ts starts Deno.serve with the web handler", async () => {
  web = await start(["scripts/deno-serve.ts"], { TASKD_STOP_GRACE: "1 second" })
})
if (web !== undefined) {
  const { base, token } = web
  let agentToken = ""
  let taskId = ""
  await check("a local-process workspace receives its agent token", async () => {
    const template = await api(base, token, "POST", "/api/v2/organizations/default/templates", {
      name: "smoke-agent",
      agent_command: `printf %s "$CODER_AGENT_TOKEN" > '${tokenFile}'; exec sleep 300`
    })
    expect(template.status === 201, `template: ${template.status}`)
    const task = await api(base, token, "POST", "/api/v2/tasks/me", {
      template_version_id: template.json.active_version_id
    })
    expect(task.status === 201, `task: ${task.status}`)
    taskId = task.json.id
    for (let attempt = 0; attempt < 200 && agentToken === ""; attempt++) {
      try {
        agentToken = readFileSync(tokenFile, "utf8")
      } catch {
        await sleep(50)
      }
    }
    expect(agentToken !== "", "no agent token was written")
  })
  await check("Deno.serve: a chunked snapshot over 64 KiB is refused with Coder's 400, unread", async () => {
    // 1 MiB (16 times the cap) is sent, then the body stalls, open, until the answer arrives: a server that
    // waited for the end of the body (or buffered all of it) would never answer. Deterministic, unlike
    // racing a fast producer against the answer.
    const sent = 1024 * 1024
    let pulled = 0
    let answer: () => void = () => {}
    const answered = new Promise<void>((resolve) => (answer = resolve))
    const chunk = new Uint8Array(16 * 1024).fill(97)
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (pulled >= sent) {
          await answered
          return controller.close()
        }
        pulled += chunk.byteLength
        controller.enqueue(chunk)
      }
    })
    // Past 20 s the body ends, so that the check fails with a message instead of hanging.
    let waitedForTheEnd = false
    const timeout = setTimeout(() => {
      waitedForTheEnd = true
      answer()
    }, 20_000)
    const response = await fetch(`${base}/api/v2/workspaceagents/me/tasks/${taskId}/log-snapshot?format=agentapi`, {
      method: "POST",
      headers: { "coder-session-token": agentToken, "content-type": "application/json" },
      body,
      duplex: "half"
    } as RequestInit).finally(() => {
      clearTimeout(timeout)
      answer()
    })
    const json: any = await response.json()
    expect(!waitedForTheEnd, "no answer in 20 s while the body was open: the server waited for its end")
    expect(response.status === 400, `status ${response.status}`)
    expect(
      json.message === "Failed to decode request payload." && json.detail === "http: request body too large",
      JSON.stringify(json)
    )
    console.log(`# ${pulled} bytes had been produced when the 400 arrived; the rest of the body was never sent`)
  })
  await check("Deno.serve: a snapshot within the cap is stored (204)", async () => {
    const response = await fetch(`${base}/api/v2/workspaceagents/me/tasks/${taskId}/log-snapshot?format=agentapi`, {
      method: "POST",
      headers: { "coder-session-token": agentToken },
      body: JSON.stringify({ messages: [{ id: 0, content: "hi", role: "agent", time: "2025-01-01T00:00:00Z" }] })
    })
    expect(response.status === 204, `status ${response.status}: ${await response.text()}`)
  })
  await check("Deno.serve: unknown routes get Coder's 404 body", async () => {
    const response = await api(base, token, "GET", "/nowhere")
    expect(response.status === 404 && response.json.message === "Route not found.", JSON.stringify(response))
  })
  await check("SIGTERM ends deno-serve.ts with exit 0 within 15 s", async () => {
    await api(base, token, "DELETE", `/api/v2/tasks/me/${taskId}`)
    const code = await stop(web!.child, 15_000)
    expect(code === 0, `exit code ${code}\n${web!.output()}`)
  })
}

console.log(`smoke: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
