/**
 * A few lines of DOM building: `h("button", { type: "submit", onclick }, "Send")`. Text is always set as
 * text (never parsed as HTML), so nothing from an agent or a task can inject markup.
 */
type Child = Node | string | null | undefined | false
type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>

export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: ReadonlyArray<Child | ReadonlyArray<Child>>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue
    if (typeof value === "function") element.addEventListener(name.slice(2), value)
    else if (value === true) element.setAttribute(name, "")
    else element.setAttribute(name, String(value))
  }
  append(element, children)
  return element
}

const append = (parent: Node, children: ReadonlyArray<Child | ReadonlyArray<Child>>) => {
  for (const child of children) {
    if (Array.isArray(child)) append(parent, child)
    else if (typeof child === "string") parent.appendChild(document.createTextNode(child))
    else if (child instanceof Node) parent.appendChild(child)
  }
}

/** Replaces an element's children. */
export const replace = (parent: Element, ...children: ReadonlyArray<Child | ReadonlyArray<Child>>) => {
  parent.replaceChildren()
  append(parent, children)
}

/** "3 min ago", from an RFC 3339 time. */
export const age = (time: string, now = Date.now()) => {
  const seconds = Math.max(0, Math.round((now - Date.parse(time)) / 1000))
  if (seconds < 60) return `${seconds} s ago`
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `${minutes} min ago`
  const hours = Math.round(minutes / 60)
  if (hours < 48) return `${hours} h ago`
  return `${Math.round(hours / 24)} days ago`
}
