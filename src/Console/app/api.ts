/**
 * The console's way to taskd: plain `fetch` against the API's JSON endpoints and `EventSource` for its
 * event streams, with the wire types taken from the API's own schemas (type imports only: nothing of
 * effect is bundled). The session is the HttpOnly `coder_session_token` cookie that `POST /console/session`
 * sets; the browser sends it on every same-origin request and stream, so no script ever holds the key.
 */
import type * as Conversation from "../../Domain/Conversation.ts"
import type * as Tasks from "../../Domain/Task.ts"
import type * as Templates from "../../Domain/Template.ts"
import type * as Users from "../../Domain/User.ts"

// The JSON as it is on the wire: the schemas' encoded side (times are RFC 3339 strings).
export type ConversationMessage = typeof Conversation.ConversationMessage.Encoded
export type MessagesPage = typeof Conversation.MessagesPage.Encoded
export type Task = typeof Tasks.Task.Encoded
export type TasksListResponse = typeof Tasks.TasksListResponse.Encoded
export type Template = typeof Templates.Template.Encoded
export type User = typeof Users.User.Encoded
export type GetUsersResponse = typeof Users.GetUsersResponse.Encoded

/** Coder's error body: `{"message","detail"?,"validations"?}`. */
export interface CoderErrorBody {
  readonly message: string
  readonly detail?: string
  readonly validations?: ReadonlyArray<{ readonly field: string; readonly detail: string }>
}

/** A failed request: its status and Coder's error body (or what stood in for it). */
export class ApiError extends Error {
  readonly status: number
  readonly body: CoderErrorBody
  constructor(status: number, body: CoderErrorBody) {
    super(body.message)
    this.status = status
    this.body = body
  }
}

const isErrorBody = (value: unknown): value is CoderErrorBody =>
  typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string"

const call = async <A>(method: string, path: string, body?: unknown): Promise<A> => {
  let response: Response
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? { accept: "application/json" } : {
        accept: "application/json",
        "content-type": "application/json"
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  } catch (error) {
    throw new ApiError(0, { message: "taskd cannot be reached.", detail: String(error) })
  }
  const text = await response.text()
  let json: unknown = undefined
  if (text !== "") {
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      isErrorBody(json) ? json : { message: `${response.status} ${response.statusText}`, detail: text.slice(0, 500) }
    )
  }
  return json as A
}

const seg = encodeURIComponent
const taskPath = (owner: string, task: string) => `/api/v2/tasks/${seg(owner)}/${seg(task)}`

export const api = {
  signIn: (token: string) => call<User>("POST", "/console/session", { token }),
  signOut: () => call<void>("DELETE", "/console/session"),
  me: () => call<User>("GET", "/api/v2/users/me"),
  users: () => call<GetUsersResponse>("GET", "/api/v2/users"),
  templates: () => call<ReadonlyArray<Template>>("GET", "/api/v2/templates"),
  tasks: (q: string) => call<TasksListResponse>("GET", `/api/v2/tasks${q === "" ? "" : `?q=${seg(q)}`}`),
  task: (owner: string, task: string) => call<Task>("GET", taskPath(owner, task)),
  create: (request: { template_version_id: string; input: string; name?: string }) =>
    call<Task>("POST", "/api/v2/tasks/me", request),
  messages: (owner: string, task: string, afterId: number) =>
    call<MessagesPage>("GET", `${taskPath(owner, task)}/messages?after_id=${afterId}&limit=1000`),
  send: (owner: string, task: string, input: string) => call<void>("POST", `${taskPath(owner, task)}/send`, { input }),
  updateInput: (owner: string, task: string, input: string) =>
    call<void>("PATCH", `${taskPath(owner, task)}/input`, { input }),
  pause: (owner: string, task: string) => call<unknown>("POST", `${taskPath(owner, task)}/pause`),
  resume: (owner: string, task: string) => call<unknown>("POST", `${taskPath(owner, task)}/resume`),
  remove: (owner: string, task: string) => call<void>("DELETE", taskPath(owner, task)),
  taskEventsUrl: (owner: string, task: string) => `${taskPath(owner, task)}/events`,
  tasksEventsUrl: (q: string) => `/api/v2/tasks/events${q === "" ? "" : `?q=${seg(q)}`}`
}

/** Every message of a task's history, page after page. */
export const allMessages = async (owner: string, task: string, afterId = 0) => {
  const messages: Array<ConversationMessage> = []
  let after = afterId
  for (;;) {
    const page = await api.messages(owner, task, after)
    messages.push(...page.messages)
    if (page.next_after_id === undefined) return messages
    after = page.next_after_id
  }
}

export interface StreamHandlers {
  readonly [event: string]: (data: unknown) => void
}

/**
 * Follows an event stream. `EventSource` reconnects by itself after a drop (with `Last-Event-ID`, so the
 * stream itself misses nothing); when the server refuses the stream (a 429, a 401, a 500), the browser gives
 * up and it is opened again every 5 seconds. `onReconnect` runs on every reconnect and every such attempt,
 * for a view to re-read what it may have missed while the stream was down. `close` ends it.
 */
export const follow = (
  url: string,
  handlers: StreamHandlers,
  onReconnect: () => void
): { readonly close: () => void } => {
  let source: EventSource | undefined
  let retry: ReturnType<typeof setTimeout> | undefined
  let dropped = false
  const open = () => {
    const current = new EventSource(url)
    source = current
    current.addEventListener("open", () => {
      if (dropped) onReconnect()
      dropped = false
    })
    current.addEventListener("error", () => {
      dropped = true
      if (current.readyState === EventSource.CLOSED) {
        // Refused: until it is back, the view re-reads the state at each attempt instead.
        current.close()
        retry = setTimeout(() => {
          onReconnect()
          open()
        }, 5000)
      }
    })
    for (const [name, handle] of Object.entries(handlers)) {
      current.addEventListener(name, (event) => {
        let data: unknown
        try {
          data = JSON.parse((event as MessageEvent<string>).data)
        } catch {
          return // A malformed event is skipped; the next reconnect re-reads the state.
        }
        handle(data)
      })
    }
  }
  open()
  return {
    close: () => {
      clearTimeout(retry)
      source?.close()
    }
  }
}
