/**
 * A demo workspace agent: an agentapi-compatible server on AGENTAPI_PORT that answers each user message
 * with a short reply, and a workspace agent that reports to taskd (manifest, lifecycle, app health, app
 * status) and uploads its conversation snapshot when it is stopped (SIGTERM).
 *
 * Its `GET /events` is agentapi's event stream: on connect every message, then the status, then each change.
 * A reply grows in three `message_update`s of the same id over DEMO_AGENT_REPLY_MS, between
 * `status_change` running and stable. `GET /messages` lists a reply once it is complete, so that a reader of
 * the logs sees each answer whole, as before.
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
/** The reply being written: on the event stream already, in `messages` once complete. */
let replying: Message | undefined
/** Open `GET /events` responses. */
const streams = new Set<ServerResponse>()

const run = <A, E>(effect: Effect.Effect<A, E, never>) => Effect.runPromise(effect)
const withClient = <A, E>(f: (client: Client) => Effect.Effect<A, E>) =>
  run(
    Effect.flatMap(makeClient({ baseUrl: agentUrl, token: agentToken }), f).pipe(Effect.provide(FetchHttpClient.layer))
  )

const report = (state: "working" | "idle" | "complete" | "failure", message: string) =>
  withClient((client) => client.agent.appStatus({ payload: { app_slug: appSlug, state, message, uri: "" } })).catch(
    (error) => console.error("demo-agent: app status report failed:", String(error))
  )

/** One server-sent event as agentapi writes it: a name and one line of JSON. */
const sseEvent = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
const messageEvent = (message: Message) =>
  sseEvent("message_update", { id: message.id, role: message.role, message: message.content, time: message.time })
const statusEvent = () => sseEvent("status_change", { status, agent_type: "demo" })
const broadcast = (event: string) => {
  for (const res of streams) res.write(event)
}

const record = (role: "user" | "agent", content: string) => {
  const message = { id: messages.length, role, content, time: formatTime(new Date()) }
  messages.push(message)
  broadcast(messageEvent(message))
}

const setStatus = (next: typeof status) => {
  if (next === status) return
  status = next
  broadcast(statusEvent())
}

/** The reply so far, as a running agent's last message: same id, new text, new time. */
const writeReply = (content: string) => {
  replying = { id: messages.length, role: "agent", content, time: formatTime(new Date()) }
  broadcast(messageEvent(replying))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The agent "works" on a message for a moment, its answer growing, then answers it. */
const work = async (content: string) => {
  record("user", content)
  setStatus("running")
  await report("working", `Working on: ${content.slice(0, 60)}`)
  const answer = `Done: ${content}`
  // Two partial texts, then the whole answer at DEMO_AGENT_REPLY_MS, as before.
  for (const part of [1, 2]) {
    await sleep(replyDelayMs / 3)
    writeReply(answer.slice(0, Math.ceil((answer.length * part) / 3)))
  }
  await sleep(replyDelayMs / 3)
  replying = undefined
  record("agent", answer)
  setStatus("stable")
  await report("idle", "Waiting for input")
}

/** `GET /events`: the state (messages, the reply so far, the status), then each change. */
const openEvents = (res: ServerResponse) => {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  let replay = messages.map(messageEvent).join("")
  if (replying !== undefined) replay += messageEvent(replying)
  res.write(replay + statusEvent())
  streams.add(res)
  res.on("close", () => streams.delete(res))
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
  if (req.method === "GET" && path === "/events") return openEvents(res)
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
  for (const res of streams) res.end()
  agentApi.close()
  process.exit(0)
}

process.on("SIGTERM", () => void stop())
process.on("SIGINT", () => void stop())
start().catch((error) => {
  console.error("demo-agent: failed to start:", error)
  process.exit(1)
})
