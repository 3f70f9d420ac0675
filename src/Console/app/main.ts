/**
 * taskd's web console: sign in with an API key, the caller's tasks (live), one task's conversation (live),
 * and the actions on tasks. Plain DOM and TypeScript, hash routes (`#/`, `#/new`, `#/tasks/<owner>/<id>`),
 * everything through taskd's public API (./api.ts).
 */
import { allMessages, api, ApiError, type ConversationMessage, follow, type Task, type User } from "./api.ts"
import { age, h, replace } from "./dom.ts"
import "./styles.css"

const root = document.getElementById("app")!
const main = h("main", { id: "main", tabindex: -1 })
let me: User | undefined
/** What the current view must stop when the route changes (its streams, its timers). */
let stops: Array<() => void> = []

const statuses = ["pending", "initializing", "active", "paused", "unknown", "error"] as const

// -----------------------------------------------------------------------------------------------------------
// Shared pieces
// -----------------------------------------------------------------------------------------------------------

/** Coder's error message, its detail and its validations, announced to screen readers. */
const errorBox = (error: unknown) => {
  const body = error instanceof ApiError
    ? error.body
    : { message: error instanceof Error ? error.message : String(error) }
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", {}, body.message),
    body.detail ? h("p", {}, body.detail) : null,
    body.validations && body.validations.length > 0
      ? h("ul", {}, body.validations.map((v) => h("li", {}, `${v.field}: ${v.detail}`)))
      : null
  )
}

const notice = (text: string) => h("div", { class: "notice", role: "status" }, text)

/** A region whose content is a view's feedback (an error or a confirmation). */
const feedback = () => h("div", { class: "feedback", "aria-live": "polite" })

const badge = (status: string) => h("span", { class: `badge status-${status}` }, status)

const taskHref = (task: Task) => `#/tasks/${encodeURIComponent(task.owner_name)}/${task.id}`

const go = (hash: string) => {
  if (location.hash === hash) void route()
  else location.hash = hash
}

/** Runs an action with its button disabled meanwhile; its error goes to `into`. */
const act = async (button: HTMLButtonElement, into: Element, action: () => Promise<void>) => {
  button.disabled = true
  replace(into)
  try {
    await action()
  } catch (error) {
    replace(into, errorBox(error))
  } finally {
    button.disabled = false
  }
}

// -----------------------------------------------------------------------------------------------------------
// Sign in and the frame
// -----------------------------------------------------------------------------------------------------------

const signInView = () => {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false"
  })
  const errors = feedback()
  const button = h("button", { type: "submit" }, "Sign in")
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to taskd"),
    h("label", { for: "token" }, "API key"),
    input,
    h(
      "p",
      { class: "hint" },
      "The admin token that npm start printed, or a user's API key (POST /api/v2/users/{user}/keys)."
    ),
    errors,
    button
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(button, errors, async () => {
      me = await api.signIn(input.value)
      input.value = ""
      start()
    })
  })
  replace(root, h("main", { id: "main" }, form))
  input.focus()
}

const frame = () => {
  const signOut = h("button", { type: "button", class: "link" }, "Sign out")
  signOut.addEventListener("click", () => {
    void api.signOut().finally(() => {
      me = undefined
      for (const stop of stops) stop()
      stops = []
      location.hash = "#/"
      signInView()
    })
  })
  replace(
    root,
    h(
      "header",
      { class: "top" },
      h("a", { href: "#/", class: "brand" }, "taskd"),
      h("nav", { "aria-label": "Main" }, h("a", { href: "#/" }, "Tasks"), h("a", { href: "#/new" }, "New task")),
      h("span", { class: "who" }, me ? `${me.username}${me.roles.includes("owner") ? " (owner)" : ""}` : ""),
      signOut
    ),
    main
  )
}

// -----------------------------------------------------------------------------------------------------------
// The list of tasks
// -----------------------------------------------------------------------------------------------------------

const filters = { search: "", status: "", owner: "", page: 0 }
const pageSize = 20

const queryOf = () =>
  [
    filters.search.trim(),
    filters.status ? `status:${filters.status}` : "",
    filters.owner ? `owner:${filters.owner}` : ""
  ]
    .filter((part) => part !== "").join(" ")

const tasksView = async () => {
  const isOwner = me?.roles.includes("owner") ?? false
  const tasks = new Map<string, Task>()
  const errors = feedback()
  const body = h("tbody")
  const summary = h("p", { class: "summary", role: "status" })
  const previous = h("button", { type: "button" }, "Previous")
  const next = h("button", { type: "button" }, "Next")

  const search = h("input", { id: "q", type: "search", value: filters.search, placeholder: "owner:me status:active" })
  const status = h(
    "select",
    { id: "status" },
    h("option", { value: "" }, "any"),
    statuses.map((s) => h("option", { value: s, selected: filters.status === s }, s))
  )
  const owner = h("select", { id: "owner" }, h("option", { value: "" }, "everyone"))
  const form = h(
    "form",
    { class: "filters", role: "search" },
    h("label", { for: "q" }, "Search"),
    search,
    h("label", { for: "status" }, "Status"),
    status,
    isOwner ? [h("label", { for: "owner" }, "Owner"), owner] : null,
    h("button", { type: "submit" }, "Apply")
  )

  const render = () => {
    const sorted = [...tasks.values()].sort((a, b) => b.created_at.localeCompare(a.created_at))
    const pages = Math.max(1, Math.ceil(sorted.length / pageSize))
    filters.page = Math.min(filters.page, pages - 1)
    const shown = sorted.slice(filters.page * pageSize, (filters.page + 1) * pageSize)
    const now = Date.now()
    replace(
      body,
      shown.map((task) =>
        h(
          "tr",
          { "data-task": task.id },
          h(
            "td",
            { "data-label": "Task" },
            h("a", { href: taskHref(task) }, task.display_name || task.name),
            task.display_name && task.display_name !== task.name ? h("small", { class: "name" }, task.name) : null
          ),
          h("td", { "data-label": "Status" }, badge(task.status)),
          h(
            "td",
            { "data-label": "State", class: "state" },
            task.current_state ? `${task.current_state.state}: ${task.current_state.message}` : "—"
          ),
          h("td", { "data-label": "Template" }, task.template_display_name || task.template_name),
          h("td", { "data-label": "Owner" }, task.owner_name),
          h(
            "td",
            { "data-label": "Age" },
            h("time", { datetime: task.created_at, title: task.created_at }, age(task.created_at, now))
          )
        )
      )
    )
    summary.textContent = sorted.length === 0
      ? "No tasks."
      : `${filters.page * pageSize + 1}–${filters.page * pageSize + shown.length} of ${sorted.length} tasks`
    previous.disabled = filters.page === 0
    next.disabled = filters.page >= pages - 1
  }

  const load = async () => {
    try {
      const list = await api.tasks(queryOf())
      tasks.clear()
      for (const task of list.tasks) tasks.set(task.id, task)
      replace(errors)
      render()
    } catch (error) {
      replace(errors, errorBox(error))
    }
  }

  let stream: { close: () => void } | undefined
  const watch = () => {
    stream?.close()
    stream = follow(api.tasksEventsUrl(queryOf()), {
      task: (data) => {
        const task = data as Task
        tasks.set(task.id, task)
        render()
      },
      task_deleted: (data) => {
        tasks.delete((data as { id: string }).id)
        render()
      }
    }, () => void load())
  }
  stops.push(() => stream?.close())

  form.addEventListener("submit", (event) => {
    event.preventDefault()
    filters.search = search.value
    filters.status = status.value
    filters.owner = owner.value
    filters.page = 0
    void load()
    watch()
  })
  status.addEventListener("change", () => form.requestSubmit())
  owner.addEventListener("change", () => form.requestSubmit())
  previous.addEventListener("click", () => {
    filters.page -= 1
    render()
  })
  next.addEventListener("click", () => {
    filters.page += 1
    render()
  })

  replace(
    main,
    h("div", { class: "bar" }, h("h1", {}, "Tasks"), h("a", { href: "#/new", class: "button" }, "New task")),
    form,
    errors,
    h(
      "table",
      { class: "tasks" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Task", "Status", "State", "Template", "Owner", "Age"].map((c) => h("th", { scope: "col" }, c))
        )
      ),
      body
    ),
    h("div", { class: "pager" }, previous, summary, next)
  )

  if (isOwner) {
    void api.users().then((users) => {
      for (const user of users.users) {
        owner.appendChild(
          h("option", { value: user.username, selected: filters.owner === user.username }, user.username)
        )
      }
    }, () => undefined)
  }
  await load()
  watch()
  // Ages move on even when nothing else does.
  const timer = setInterval(render, 30_000)
  stops.push(() => clearInterval(timer))
}

// -----------------------------------------------------------------------------------------------------------
// A new task
// -----------------------------------------------------------------------------------------------------------

const createView = async () => {
  const errors = feedback()
  const template = h("select", { id: "template", required: true })
  const version = h("input", { id: "version", placeholder: "template version id (UUID)" })
  const prompt = h("textarea", { id: "prompt", rows: 5, required: true })
  const name = h("input", { id: "name", placeholder: "optional, e.g. fix-login" })
  const button = h("button", { type: "submit" }, "Create task")
  let templates = false
  try {
    const list = await api.templates()
    templates = list.length > 0
    for (const t of list) template.appendChild(h("option", { value: t.active_version_id }, t.display_name || t.name))
  } catch (error) {
    replace(errors, errorBox(error))
  }
  const form = h(
    "form",
    { class: "card create", "aria-labelledby": "create-title" },
    h("h1", { id: "create-title" }, "New task"),
    templates
      ? [h("label", { for: "template" }, "Template"), template]
      : [h("label", { for: "version" }, "Template version"), version],
    h("label", { for: "prompt" }, "Prompt"),
    prompt,
    h("label", { for: "name" }, "Name"),
    name,
    errors,
    button
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(button, errors, async () => {
      const task = await api.create({
        template_version_id: templates ? template.value : version.value.trim(),
        input: prompt.value,
        ...(name.value.trim() === "" ? {} : { name: name.value.trim() })
      })
      go(taskHref(task))
    })
  })
  replace(main, form)
  prompt.focus()
}

// -----------------------------------------------------------------------------------------------------------
// One task
// -----------------------------------------------------------------------------------------------------------

const messageView = (message: ConversationMessage) =>
  h(
    "article",
    { class: `message ${message.type}`, "data-id": message.id },
    h(
      "header",
      {},
      h("span", { class: "role" }, message.type === "input" ? "You" : "Agent"),
      h("time", { datetime: message.time }, new Date(message.time).toLocaleString())
    ),
    // Agents write terminal text, wrapped where they meant it: shown as is, in a monospace block.
    h("pre", {}, message.content)
  )

const taskView = async (owner: string, id: string) => {
  let task: Task
  try {
    task = await api.task(owner, id)
  } catch (error) {
    replace(main, h("h1", {}, "Task"), errorBox(error), h("p", {}, h("a", { href: "#/" }, "Back to the tasks")))
    return
  }
  let agent: "running" | "stable" | undefined
  let deleted = false
  const messages = new Map<number, ConversationMessage>()
  const elements = new Map<number, HTMLElement>()

  const title = h("h1")
  const facts = h("dl", { class: "facts" })
  const agentStatus = h("p", { class: "agent", role: "status" })
  const actions = h("div", { class: "actions" })
  const actionErrors = feedback()
  const promptEditor = h("div", { class: "prompt-editor" })
  const conversation = h("section", { class: "conversation", "aria-label": "Conversation" })
  const input = h("textarea", { id: "input", rows: 3, "aria-describedby": "send-reason" })
  const sendButton = h("button", { type: "submit" }, "Send")
  const reason = h("p", { id: "send-reason", class: "hint" })
  const sendErrors = feedback()
  const sendForm = h(
    "form",
    { class: "send" },
    h("label", { for: "input" }, "Message to the agent"),
    input,
    reason,
    sendErrors,
    sendButton
  )

  const busy = () => agent !== undefined ? agent === "running" : task.current_state?.state === "working"

  const renderTask = () => {
    replace(title, task.display_name || task.name, " ", badge(task.status))
    replace(
      facts,
      h("dt", {}, "Owner"),
      h("dd", {}, task.owner_name),
      h("dt", {}, "Template"),
      h("dd", {}, task.template_display_name || task.template_name),
      h("dt", {}, "State"),
      h(
        "dd",
        { class: "state" },
        task.current_state ? `${task.current_state.state}: ${task.current_state.message}` : "—"
      ),
      h("dt", {}, "Created"),
      h("dd", {}, h("time", { datetime: task.created_at, title: task.created_at }, age(task.created_at)))
    )
    const isBusy = busy()
    agentStatus.className = `agent ${isBusy ? "busy" : task.status === "active" ? "waiting" : "off"}`
    agentStatus.textContent = deleted
      ? "This task was deleted."
      : task.status !== "active"
      ? `Agent: not running (task ${task.status})`
      : isBusy
      ? "Agent: busy, working"
      : "Agent: waiting for input"

    const why = deleted
      ? "The task was deleted."
      : task.status === "paused"
      ? "The task is paused: resume it to talk to the agent."
      : task.status !== "active"
      ? `The task is ${task.status}: input can be sent once it is active.`
      : isBusy
      ? "The agent is busy: wait until it waits for input."
      : ""
    sendButton.disabled = why !== ""
    input.disabled = why !== ""
    reason.textContent = why

    const buttons: Array<HTMLButtonElement> = []
    if (!deleted && task.status !== "paused") {
      const pause = h("button", { type: "button" }, "Pause")
      pause.addEventListener("click", () => void act(pause, actionErrors, () => api.pause(owner, id).then(refresh)))
      buttons.push(pause)
    }
    if (!deleted && task.status === "paused") {
      const resume = h("button", { type: "button" }, "Resume")
      resume.addEventListener("click", () => void act(resume, actionErrors, () => api.resume(owner, id).then(refresh)))
      buttons.push(resume)
    }
    if (!deleted) {
      const remove = h("button", { type: "button", class: "danger" }, "Delete")
      remove.addEventListener("click", () => confirmDelete())
      buttons.push(remove)
    }
    replace(actions, buttons)

    if (task.status === "paused" && !deleted) {
      if (promptEditor.childElementCount === 0) {
        const prompt = h("textarea", { id: "prompt", rows: 3 }, task.initial_prompt)
        const save = h("button", { type: "submit" }, "Save prompt")
        const errors = feedback()
        const form = h(
          "form",
          {},
          h("label", { for: "prompt" }, "Prompt (editable while paused)"),
          prompt,
          errors,
          save
        )
        form.addEventListener("submit", (event) => {
          event.preventDefault()
          void act(save, errors, async () => {
            await api.updateInput(owner, id, prompt.value)
            replace(errors, notice("Prompt saved."))
            await refresh()
          })
        })
        replace(promptEditor, form)
      }
    } else {
      replace(promptEditor)
    }
  }

  const upsert = (message: ConversationMessage) => {
    const known = messages.get(message.id)
    if (known !== undefined && known.content === message.content && known.time === message.time) return
    messages.set(message.id, message)
    const view = messageView(message)
    const old = elements.get(message.id)
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40
    if (old) {
      old.replaceWith(view)
    } else {
      // In order of id: usually the last.
      const after = [...elements.keys()].filter((k) => k > message.id).sort((a, b) => a - b)[0]
      const before = after === undefined ? undefined : elements.get(after)
      if (before) conversation.insertBefore(view, before)
      else conversation.appendChild(view)
    }
    elements.set(message.id, view)
    if (atBottom && !old) view.scrollIntoView({ block: "end" })
  }

  const lastId = () => Math.max(0, ...messages.keys())

  const refresh = async () => {
    try {
      task = await api.task(owner, id)
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) deleted = true
    }
    renderTask()
    try {
      // From the last message on: its text may have grown since it was read.
      for (const message of await allMessages(owner, id, Math.max(0, lastId() - 1))) upsert(message)
    } catch {
      // The history stays as it is; the next change or reconnect reads it again.
    }
  }

  const dialog = h("dialog", { "aria-labelledby": "delete-title" })
  const confirmDelete = () => {
    const errors = feedback()
    const yes = h("button", { type: "button", class: "danger" }, "Delete the task")
    const no = h("button", { type: "button" }, "Cancel")
    no.addEventListener("click", () => dialog.close())
    yes.addEventListener("click", () =>
      void act(yes, errors, async () => {
        await api.remove(owner, id)
        dialog.close()
        go("#/")
      }))
    replace(
      dialog,
      h("h2", { id: "delete-title" }, `Delete ${task.name}?`),
      h("p", {}, "Its workspace is stopped and deleted. This cannot be undone."),
      errors,
      h("div", { class: "actions" }, no, yes)
    )
    dialog.showModal()
    no.focus()
  }

  sendForm.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(sendButton, sendErrors, async () => {
      await api.send(owner, id, input.value)
      input.value = ""
      // Until the agent's own status says so, it is working on what it was sent.
      agent = "running"
      renderTask()
    }).then(renderTask)
  })
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) sendForm.requestSubmit()
  })

  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Tasks"), " / ", task.owner_name),
    h("div", { class: "bar" }, title, actions),
    agentStatus,
    actionErrors,
    facts,
    promptEditor,
    h("h2", {}, "Conversation"),
    conversation,
    sendForm,
    dialog
  )
  renderTask()
  for (const message of await allMessages(owner, id).catch(() => [])) upsert(message)

  const stream = follow(api.taskEventsUrl(owner, id), {
    task: (data) => {
      task = data as Task
      renderTask()
    },
    message: (data) => upsert(data as ConversationMessage),
    agent: (data) => {
      agent = (data as { status: "running" | "stable" }).status
      renderTask()
    },
    task_deleted: () => {
      deleted = true
      renderTask()
    }
  }, () => void refresh())
  stops.push(() => stream.close())
}

// -----------------------------------------------------------------------------------------------------------
// Routes
// -----------------------------------------------------------------------------------------------------------

const route = async () => {
  for (const stop of stops) stop()
  stops = []
  const path = location.hash.replace(/^#/, "") || "/"
  const taskMatch = /^\/tasks\/([^/]+)\/([^/]+)$/.exec(path)
  if (taskMatch) await taskView(decodeURIComponent(taskMatch[1]!), decodeURIComponent(taskMatch[2]!))
  else if (path === "/new") await createView()
  else await tasksView()
}

const start = () => {
  frame()
  void route()
}

window.addEventListener("hashchange", () => {
  if (me !== undefined) void route()
})

api.me().then(
  (user) => {
    me = user
    start()
  },
  (error) => {
    if (error instanceof ApiError && error.status === 401) signInView()
    else replace(root, h("main", { id: "main" }, errorBox(error)))
  }
)
