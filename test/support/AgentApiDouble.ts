/**
 * An agentapi double on a real socket (127.0.0.1, port 0), for the life of a scope, driven by the test.
 * It speaks agentapi's wire as coder/agentapi writes it (lib/httpapi/server.go, events.go; huma's sse):
 * - `GET /events`: server-sent events `event: <name>` + one `data: <JSON>` line, no ids. On connect every
 *   message (`message_update` `{id, role, message, time}`), then the status (`status_change`
 *   `{status, agent_type}`), then the stored errors (`agent_error` `{message, level, time}`, agentapi 0.12+);
 *   then each change as it happens. The JSON is Go's: `<`, `>`, `&`, U+2028 and U+2029 escaped.
 * - `GET /messages`, `GET /status` (`{$schema, status, agent_type, transport}`), and `POST /message`
 *   (`{content, type: "user"|"raw"}` → `{ok: true}`; refused with huma's 500 problem while the agent is
 *   running, or for content that is empty or not trimmed, as agentapi's `Send` refuses it).
 *
 * The state is one agent process: messages numbered from 0, a status, errors. `restart` is a new process
 * (ids from 0 again), with the old conversation restored or not. Reads (`messages`, `status`,
 * `eventConnections`, `requests`) are plain getters; every control is an Effect.
 *
 * Plug it in as a task's app URL like FakeHttp's servers: `createTaskWorkspace(owner, template, { appUrl:
 * agent.url })`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type { Socket } from "node:net"
import { formatTime } from "../../src/Domain/Time.ts"

export type Role = "user" | "agent"
export type Status = "running" | "stable"

/** A message as agentapi's `GET /messages` lists it. */
export interface DoubleMessage {
  readonly id: number
  readonly role: Role
  readonly content: string
  readonly time: string
}

/** A message to start with: the time defaults to the double's clock. */
export interface SeedMessage {
  readonly role: Role
  readonly content: string
  readonly time?: string | undefined
}

export interface AgentError {
  readonly message: string
  readonly level: "warning" | "error"
  readonly time: string
}

/**
 * How the agent answers a user message on its own: its status goes `running`, the reply appears as an
 * agent message whose text grows in `steps` updates (one every `stepMs`), then the status is `stable`.
 */
export interface AutoReply {
  /** The full reply to `content`. Default `Done: <content>`. */
  readonly text?: ((content: string) => string) | undefined
  /** How many times the reply message is sent (the first with a part of it, the last with all). Default 3. */
  readonly steps?: number | undefined
  /** Between steps, and before the first. Default 20 ms. */
  readonly stepMs?: number | undefined
}

export interface Options {
  /** The conversation the agent starts with. Default none. */
  readonly messages?: ReadonlyArray<SeedMessage> | undefined
  /** Default "stable". */
  readonly status?: Status | undefined
  /** `agent_type` in `/status` and `status_change`. Default "claude". */
  readonly agentType?: string | undefined
  /** Answer user messages on its own (see `AutoReply`); by default only the user's message is recorded. */
  readonly autoReply?: AutoReply | undefined
  /** Message and error times. Default the real time. */
  readonly now?: (() => Date) | undefined
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly body: string
}

export interface AgentApiDouble {
  /** The base URL, e.g. `http://127.0.0.1:41234`: a task's app URL. */
  readonly url: string
  readonly port: number
  /** The agent's messages now. */
  readonly messages: ReadonlyArray<DoubleMessage>
  readonly status: Status
  readonly errors: ReadonlyArray<AgentError>
  /** How many `GET /events` connections are open now. */
  readonly eventConnections: number
  /** Every request so far, in order. */
  readonly requests: ReadonlyArray<RecordedRequest>
  /** Whether the double listens now (see `stop`/`start`). */
  readonly listening: boolean

  /** Appends a message (the next id) and sends it to every open event stream. */
  readonly addMessage: (role: Role, content: string, time?: string) => Effect.Effect<DoubleMessage>
  /** Changes the last message's text (same id and role, a new time) and sends it again, as a running agent does. */
  readonly updateLastMessage: (content: string) => Effect.Effect<DoubleMessage>
  /** Sets the status; a change is sent as `status_change` (the same status again sends nothing, as agentapi). */
  readonly setStatus: (status: Status) => Effect.Effect<void>
  /** Records an error (replayed on connect, the last 100 kept) and sends it as `agent_error`. */
  readonly addError: (message: string, level?: AgentError["level"]) => Effect.Effect<AgentError>
  /** Sets or clears the automatic reply to user messages. */
  readonly setAutoReply: (autoReply: AutoReply | undefined) => Effect.Effect<void>
  /**
   * Writes `chunk` as it is to every open event stream (malformed events, floods, partial lines).
   * Returns how many streams it went to.
   */
  readonly sendRaw: (chunk: string | Uint8Array) => Effect.Effect<number>
  /**
   * Closes every open event stream: cleanly (the response ends) by default, or with `abort` the socket is
   * destroyed mid-stream, as when the agent is killed. The agent keeps running. Returns how many closed.
   */
  readonly dropEventConnections: (options?: { readonly abort?: boolean | undefined }) => Effect.Effect<number>
  /**
   * A new agent process on the same port: open event streams are cut (abort), pending replies stop, the
   * errors are gone. `restore: true` brings back the same messages (ids and texts), as agentapi's state
   * persistence does; `restore: false` starts from `messages` (default none), numbered from 0. The status
   * is `status` (default "stable").
   */
  readonly restart: (options: {
    readonly restore: boolean
    readonly messages?: ReadonlyArray<SeedMessage> | undefined
    readonly status?: Status | undefined
  }) => Effect.Effect<void>
  /** Stops listening and cuts every connection (the agent is down); the state stays. */
  readonly stop: Effect.Effect<void>
  /** Listens again on the same port. */
  readonly start: Effect.Effect<void>
  /**
   * Waits until exactly `count` event streams are open: 1 once a client has connected and had its replay,
   * 0 once every client has gone.
   */
  readonly awaitEventConnections: (count?: number) => Effect.Effect<void>
}

const maxStoredErrors = 100

/** JSON as Go's `json.Encoder` writes it (HTML-safe escaping), without the trailing newline. */
export const goJson = (value: unknown): string =>
  JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** One event as huma's sse package writes it. */
export const sseEvent = (name: string, data: unknown): string => `event: ${name}\ndata: ${goJson(data)}\n\n`

const messageEvent = (message: DoubleMessage) =>
  sseEvent("message_update", { id: message.id, role: message.role, message: message.content, time: message.time })

/** An agentapi double for the life of the scope. */
export const make = (options: Options = {}): Effect.Effect<AgentApiDouble, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Double>((resume) => {
      const double = new Double(options)
      double.listen(0, () => resume(Effect.succeed(double)))
    }),
    (double) => Effect.callback<void>((resume) => double.shutdown(() => resume(Effect.void)))
  ).pipe(Effect.map((double) => double.api()))

class Double {
  private messages: Array<DoubleMessage> = []
  private status: Status
  private errors: Array<AgentError> = []
  private autoReply: AutoReply | undefined
  private readonly agentType: string
  private readonly now: () => Date
  private readonly streams = new Set<http.ServerResponse>()
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly waiters = new Set<() => void>()
  private readonly requests: Array<RecordedRequest> = []
  private readonly server: http.Server
  private port = 0
  private listening = false

  constructor(options: Options) {
    this.status = options.status ?? "stable"
    this.agentType = options.agentType ?? "claude"
    this.autoReply = options.autoReply
    this.now = options.now ?? (() => new Date())
    this.seed(options.messages ?? [])
    this.server = http.createServer((req, res) => this.handle(req, res))
    this.server.on("connection", (socket) => {
      this.sockets.add(socket)
      socket.on("close", () => this.sockets.delete(socket))
    })
  }

  listen(port: number, onListening: () => void) {
    this.server.listen(port, "127.0.0.1", () => {
      this.port = (this.server.address() as { port: number }).port
      this.listening = true
      onListening()
    })
  }

  /** Stops listening and destroys every connection. */
  close(onClosed: () => void) {
    if (!this.listening) return onClosed()
    this.listening = false
    for (const socket of this.sockets) socket.destroy()
    this.server.close(() => onClosed())
  }

  shutdown(onDone: () => void) {
    this.stopWork()
    this.close(onDone)
  }

  private seed(messages: ReadonlyArray<SeedMessage>) {
    this.messages = messages.map((message, id) => ({
      id,
      role: message.role,
      content: message.content,
      time: message.time ?? formatTime(this.now())
    }))
  }

  private stopWork() {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  private later(ms: number, f: () => void) {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      f()
    }, ms)
    this.timers.add(timer)
  }

  private broadcast(chunk: string | Uint8Array): number {
    for (const res of this.streams) res.write(chunk)
    return this.streams.size
  }

  private changed() {
    for (const waiter of this.waiters) waiter()
  }

  addMessage(role: Role, content: string, time?: string): DoubleMessage {
    const message = { id: this.messages.length, role, content, time: time ?? formatTime(this.now()) }
    this.messages.push(message)
    this.broadcast(messageEvent(message))
    return message
  }

  updateLastMessage(content: string): DoubleMessage {
    const last = this.messages.at(-1)
    if (last === undefined) throw new Error("AgentApiDouble.updateLastMessage: there is no message")
    const message = { ...last, content, time: formatTime(this.now()) }
    this.messages[this.messages.length - 1] = message
    this.broadcast(messageEvent(message))
    return message
  }

  setStatus(status: Status) {
    if (status === this.status) return
    this.status = status
    this.broadcast(sseEvent("status_change", { status, agent_type: this.agentType }))
  }

  addError(message: string, level: AgentError["level"]): AgentError {
    const error = { message, level, time: formatTime(this.now()) }
    this.errors.push(error)
    if (this.errors.length > maxStoredErrors) this.errors = this.errors.slice(-maxStoredErrors)
    this.broadcast(sseEvent("agent_error", error))
    return error
  }

  dropStreams(abort: boolean): number {
    const count = this.streams.size
    for (const res of this.streams) {
      if (abort) res.socket?.destroy()
      else res.end()
    }
    this.streams.clear()
    this.changed()
    return count
  }

  restart(options: Parameters<AgentApiDouble["restart"]>[0]) {
    this.stopWork()
    this.dropStreams(true)
    this.errors = []
    this.status = options.status ?? "stable"
    if (!options.restore) this.seed(options.messages ?? [])
  }

  /** The agent works on `content`, then replies in steps (see `AutoReply`). */
  private work(content: string, autoReply: AutoReply) {
    const text = (autoReply.text ?? ((content: string) => `Done: ${content}`))(content)
    const steps = Math.max(1, autoReply.steps ?? 3)
    const stepMs = autoReply.stepMs ?? 20
    const step = (n: number) =>
      this.later(stepMs, () => {
        const part = text.slice(0, Math.ceil((text.length * n) / steps))
        if (n === 1) this.addMessage("agent", part)
        else this.updateLastMessage(part)
        if (n < steps) step(n + 1)
        else this.setStatus("stable")
      })
    step(1)
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://agentapi").pathname
      const body = Buffer.concat(chunks).toString("utf8")
      this.requests.push({ method: req.method ?? "", path, body })
      this.answer(req.method ?? "", path, body, res)
    })
  }

  private json(res: http.ServerResponse, status: number, body: unknown, contentType = "application/json") {
    res.writeHead(status, { "content-type": contentType })
    res.end(`${goJson(body)}\n`)
  }

  /** huma's answer to an error returned by a handler that is not a huma status error. */
  private problem(res: http.ServerResponse, message: string) {
    this.json(res, 500, {
      $schema: `http://127.0.0.1:${this.port}/schemas/ErrorModel.json`,
      title: "Internal Server Error",
      status: 500,
      detail: "unexpected error occurred",
      errors: [{ message }]
    }, "application/problem+json")
  }

  private answer(method: string, path: string, body: string, res: http.ServerResponse) {
    if (method === "GET" && path === "/events") return this.openStream(res)
    if (method === "GET" && path === "/status") {
      return this.json(res, 200, {
        $schema: `http://127.0.0.1:${this.port}/schemas/StatusResponseBody.json`,
        status: this.status,
        agent_type: this.agentType,
        transport: "pty"
      })
    }
    if (method === "GET" && path === "/messages") {
      return this.json(res, 200, {
        $schema: `http://127.0.0.1:${this.port}/schemas/MessagesResponseBody.json`,
        messages: this.messages.map(({ content, id, role, time }) => ({ id, content, role, time }))
      })
    }
    if (method === "POST" && path === "/message") {
      let request: { content?: unknown; type?: unknown }
      try {
        request = JSON.parse(body) as typeof request
      } catch {
        return this.json(res, 400, { title: "Bad Request", status: 400, detail: "invalid JSON" })
      }
      if (typeof request.content !== "string" || (request.type !== "user" && request.type !== "raw")) {
        return this.json(res, 422, { title: "Unprocessable Entity", status: 422, detail: "validation failed" })
      }
      // Raw keystrokes go to the terminal and are not part of the conversation.
      if (request.type === "raw") return this.json(res, 200, { ok: true })
      const content = request.content
      if (content !== content.trim()) {
        return this.problem(res, "failed to send message: message must be trimmed of leading and trailing whitespace")
      }
      if (content === "") return this.problem(res, "failed to send message: message must not be empty")
      if (this.status !== "stable") {
        return this.problem(
          res,
          "failed to send message: message can only be sent when the agent is waiting for user input"
        )
      }
      this.addMessage("user", content)
      // agentapi answers once the agent has started on the message.
      if (this.autoReply !== undefined) {
        this.setStatus("running")
        this.work(content, this.autoReply)
      }
      return this.json(res, 200, { ok: true })
    }
    this.json(res, 404, { title: "Not Found", status: 404, detail: "Not Found" }, "application/problem+json")
  }

  private openStream(res: http.ServerResponse) {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-store, must-revalidate",
      "x-accel-buffering": "no"
    })
    // The state first, in agentapi's order, as one write.
    let replay = ""
    for (const message of this.messages) replay += messageEvent(message)
    replay += sseEvent("status_change", { status: this.status, agent_type: this.agentType })
    for (const error of this.errors) replay += sseEvent("agent_error", error)
    res.write(replay)
    this.streams.add(res)
    // The response's close, not the request's: the request closes as soon as its (empty) body is read.
    res.on("close", () => {
      if (this.streams.delete(res)) this.changed()
    })
    this.changed()
  }

  api(): AgentApiDouble {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const double = this
    return {
      url: `http://127.0.0.1:${this.port}`,
      port: this.port,
      get messages() {
        return [...double.messages]
      },
      get status() {
        return double.status
      },
      get errors() {
        return [...double.errors]
      },
      get eventConnections() {
        return double.streams.size
      },
      get requests() {
        return double.requests
      },
      get listening() {
        return double.listening
      },
      addMessage: (role, content, time) => Effect.sync(() => double.addMessage(role, content, time)),
      updateLastMessage: (content) => Effect.sync(() => double.updateLastMessage(content)),
      setStatus: (status) => Effect.sync(() => double.setStatus(status)),
      addError: (message, level = "error") => Effect.sync(() => double.addError(message, level)),
      setAutoReply: (autoReply) => Effect.sync(() => void (double.autoReply = autoReply)),
      sendRaw: (chunk) => Effect.sync(() => double.broadcast(chunk)),
      dropEventConnections: (options) => Effect.sync(() => double.dropStreams(options?.abort === true)),
      restart: (options) => Effect.sync(() => double.restart(options)),
      stop: Effect.callback<void>((resume) => {
        double.dropStreams(true)
        double.close(() => resume(Effect.void))
      }),
      start: Effect.callback<void>((resume) => {
        if (double.listening) return resume(Effect.void)
        double.listen(double.port, () => resume(Effect.void))
      }),
      awaitEventConnections: (count = 1) =>
        Effect.callback<void>((resume) => {
          const check = () => {
            if (double.streams.size !== count) return
            double.waiters.delete(check)
            resume(Effect.void)
          }
          double.waiters.add(check)
          check()
          return Effect.sync(() => double.waiters.delete(check))
        })
    }
  }
}
