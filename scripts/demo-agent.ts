/**
 * A demo workspace agent: an agentapi-compatible server on AGENTAPI_PORT that answers each user message
 * with a short reply, and a workspace agent that reports to taskd (manifest, lifecycle, app health, app
 * status) and uploads its conversation snapshot when it is stopped (SIGTERM).
 *
 * The local process provisioner runs it as a template's `agent_command`:
 *   node scripts/demo-agent.ts
 * with CODER_AGENT_URL, CODER_AGENT_TOKEN, CODER_TASK_ID, CODER_TASK_PROMPT and AGENTAPI_PORT set.
 */
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { uploadSnapshot } from "../src/AgentApi/Uploader.ts"
import { type Client, makeClient } from "../src/Client.ts"
import type { Message } from "../src/Domain/AgentApi.ts"
import { formatTime } from "../src/Domain/Time.ts"

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback
  if (value === undefined) {
    console.error(`demo-agent: ${name} is not set`)
    process.exit(1)
  }
  return value
}

const agentUrl = env("CODER_AGENT_URL")
const agentToken = env("CODER_AGENT_TOKEN")
const taskId = env("CODER_TASK_ID", "")
const prompt = env("CODER_TASK_PROMPT", "")
const port = Number(env("AGENTAPI_PORT", "3284"))
const appSlug = env("CODER_AGENT_APP_SLUG", "task-app")
const replyDelayMs = Number(process.env["DEMO_AGENT_REPLY_MS"] ?? "200")

const messages: Array<Message> = []
let status: "stable" | "running" = "stable"

const run = <A, E>(effect: Effect.Effect<A, E, never>) => Effect.runPromise(effect)
const withClient = <A, E>(f: (client: Client) => Effect.Effect<A, E>) =>
  run(
    Effect.flatMap(makeClient({ baseUrl: agentUrl, token: agentToken }), f).pipe(Effect.provide(FetchHttpClient.layer))
  )

const report = (state: "working" | "idle" | "complete" | "failure", message: string) =>
  withClient((client) => client.agent.appStatus({ payload: { app_slug: appSlug, state, message, uri: "" } })).catch(
    (error) => console.error("demo-agent: app status report failed:", String(error))
  )

const record = (role: "user" | "agent", content: string) =>
  messages.push({ id: messages.length, role, content, time: formatTime(new Date()) })

/** The agent "works" on a message for a moment, then answers it. */
const work = async (content: string) => {
  record("user", content)
  status = "running"
  await report("working", `Working on: ${content.slice(0, 60)}`)
  await new Promise((resolve) => setTimeout(resolve, replyDelayMs))
  record("agent", `Done: ${content}`)
  status = "stable"
  await report("idle", "Waiting for input")
}

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { "content-type": "application/json" })
  res.end(JSON.stringify(body))
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (chunk) => body += chunk)
    req.on("end", () => resolve(body))
    req.on("error", reject)
  })

const agentApi = createServer(async (req, res) => {
  const path = new URL(req.url ?? "/", "http://agentapi").pathname
  if (req.method === "GET" && path === "/status") return json(res, 200, { status, agent_type: "demo" })
  if (req.method === "GET" && path === "/messages") return json(res, 200, { messages })
  if (req.method === "POST" && path === "/message") {
    const body = JSON.parse(await readBody(req)) as { content?: string; type?: string }
    if (typeof body.content !== "string" || body.type !== "user") return json(res, 400, { error: "bad message" })
    if (status !== "stable") return json(res, 409, { error: "agent is busy" })
    void work(body.content)
    return json(res, 200, { ok: true })
  }
  json(res, 404, { error: "not found" })
})

const start = async () => {
  await new Promise<void>((resolve) => agentApi.listen(port, "127.0.0.1", resolve))
  const manifest = await withClient((client) => client.agent.manifest())
  await withClient((client) => client.agent.reportLifecycle({ payload: { state: "starting" } }))
  const app = manifest.apps.find((candidate) => candidate.slug === appSlug)
  if (app !== undefined) {
    await withClient((client) => client.agent.appHealth({ payload: { healths: { [app.id]: "healthy" } } }))
  }
  await withClient((client) => client.agent.reportLifecycle({ payload: { state: "ready" } }))
  console.log(`demo-agent: agentapi on 127.0.0.1:${port}, task ${taskId}`)
  if (prompt !== "" && messages.length === 0) await work(prompt)
  else await report("idle", "Waiting for input")
}

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  console.log("demo-agent: stopping; uploading the conversation snapshot")
  await withClient((client) => client.agent.reportLifecycle({ payload: { state: "shutting_down" } })).catch(() => {})
  const outcome = await run(
    uploadSnapshot({ agentUrl, agentToken, taskId, agentApiUrl: `http://127.0.0.1:${port}` }).pipe(
      Effect.provide(FetchHttpClient.layer)
    )
  )
  console.log(`demo-agent: snapshot ${outcome._tag}`)
  agentApi.close()
  process.exit(0)
}

process.on("SIGTERM", () => void stop())
process.on("SIGINT", () => void stop())
start().catch((error) => {
  console.error("demo-agent: failed to start:", error)
  process.exit(1)
})
