/**
 * The floor: the snapshot upload on plain node:http and pg, doing the same work as taskd and no more.
 * The checks in taskd's order (token and task id formats, then the agent of the token hash and the task
 * in taskd's one statement), the body read with the 64 KiB cap, JSON decode with type checks and
 * re-encode, and taskd's upsert statement.
 *
 *   DATABASE_URL=... PORT=... [POOL=10] node scripts/bench/floor.ts
 */
import { createHash } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import pg from "pg"
import { authorizeUploadQuery, upsertQuery } from "./statements.ts"

const pool = new pg.Pool({
  connectionString: process.env["DATABASE_URL"],
  max: Number(process.env["POOL"] ?? 10),
  application_name: "taskd-floor"
})

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/
const maxBytes = 64 * 1024

const send = (res: ServerResponse, status: number, body?: object) => {
  if (body === undefined) {
    res.writeHead(status).end()
  } else {
    const text = JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text)
  }
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer | undefined>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        req.pause()
        resolve(undefined)
      } else chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks, size)))
    req.on("error", reject)
  })

const str = (v: unknown, fallback: string) => {
  if (v === undefined || v === null) return fallback
  if (typeof v !== "string") throw new Error("expected a string")
  return v.toWellFormed()
}

/** Decodes with the same type checks as taskd and re-encodes the envelope. */
const envelopeOf = (json: unknown): string => {
  if (typeof json !== "object" || json === null) throw new Error("expected an object")
  const body = json as { $schema?: unknown; messages?: unknown }
  if (!Array.isArray(body.messages)) throw new Error("missing messages")
  const messages = body.messages.map((m: unknown) => {
    if (typeof m !== "object" || m === null) throw new Error("expected a message")
    const message = m as Record<string, unknown>
    const id = message["id"] ?? 0
    if (typeof id !== "number" || !Number.isSafeInteger(id)) throw new Error("bad id")
    const time = str(message["time"], "0001-01-01T00:00:00Z")
    if (!rfc3339.test(time)) throw new Error("bad time")
    return { content: str(message["content"], ""), id, role: str(message["role"], ""), time }
  })
  const data = typeof body.$schema === "string" ? { $schema: body.$schema, messages } : { messages }
  return JSON.stringify({ format: "agentapi", data })
}

const handle = async (req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? "/", "http://floor")
  const match = /^\/api\/v2\/workspaceagents\/me\/tasks\/([^/]+)\/log-snapshot$/.exec(url.pathname)
  if (req.method !== "POST" || match === null) return send(res, 404, { message: "Route not found." })
  const token = req.headers["coder-session-token"]
  if (typeof token !== "string" || !uuid.test(token)) {
    return send(res, 401, { message: "Workspace agent token invalid." })
  }
  const taskId = match[1]!.toLowerCase()
  if (!uuid.test(taskId)) return send(res, 400, { message: "Invalid task ID format." })
  if (url.searchParams.get("format") !== "agentapi") return send(res, 400, { message: "Invalid format parameter." })
  const hash = createHash("sha256").update(token.toLowerCase()).digest()
  const agent = (await pool.query(authorizeUploadQuery, [hash, taskId])).rows[0] as
    | { workspaceId: string; taskLive: boolean; taskWorkspaceId: string | null }
    | undefined
  if (agent === undefined) return send(res, 401, { message: "Workspace agent not authorized." })
  if (!agent.taskLive || agent.taskWorkspaceId !== agent.workspaceId) return send(res, 404, { message: "not found" })
  const bytes = await readBody(req)
  if (bytes === undefined) {
    res.setHeader("connection", "close")
    return send(res, 400, { message: "Failed to decode request payload." })
  }
  let envelope: string
  try {
    envelope = envelopeOf(JSON.parse(bytes.toString("utf8")))
  } catch (error) {
    return send(res, 400, { message: "Failed to decode request payload.", detail: String(error) })
  }
  const stored = await pool.query(upsertQuery, [taskId, envelope, new Date()])
  if (stored.rows[0]?.stored !== true) return send(res, 404, { message: "not found" })
  send(res, 204)
}

const server = createServer((req, res) => {
  handle(req, res).catch((error) => send(res, 500, { message: String(error) }))
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env["PORT"] ?? 8090), "127.0.0.1", () => {
  console.log(`floor listening on ${JSON.stringify(server.address())}`)
})
const stop = () => server.close(() => void pool.end().then(() => process.exit(0)))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
