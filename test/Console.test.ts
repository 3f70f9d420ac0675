/**
 * The web console in a real browser: Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) driven by
 * playwright-core, against taskd served as `taskd serve` serves it, with the demo agent as a real local
 * process. Every check is what a person sees on the page; nothing reloads it after sign-in.
 *
 * With TASKD_CONSOLE_SCREENSHOTS=<dir> the tests also save the README's screenshots there
 * (scripts/console-screenshots.ts sets it).
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdirSync } from "node:fs"
import * as Path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import * as Backends from "./support/Backends.ts"
import { adminToken, createUser, uniqueName } from "./support/Fixtures.ts"
import * as TestServer from "./support/TestServer.ts"

const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const screenshots = process.env["TASKD_CONSOLE_SCREENSHOTS"]
const demoAgent = "node scripts/demo-agent.ts"
/** How long a task may take to start or stop its demo agent process. */
const processMs = 60_000

/**
 * Runs `use` with a fresh Chromium. When a step fails, the failure says what every open page showed then
 * (a wait that timed out alone does not say why).
 */
const withBrowser = <A>(use: (browser: Browser) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.promise(() =>
      // Root (CI) cannot use Chromium's sandbox.
      chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] })
    ),
    (browser) =>
      Effect.promise(async () => {
        try {
          return await use(browser)
        } catch (error) {
          const pages = browser.contexts().flatMap((context) => context.pages())
          const shown = await Promise.all(
            pages.map((page) => page.locator("body").innerText({ timeout: 2000 }).catch(() => "?"))
          )
          throw new Error(`${String(error)}\n--- the pages showed:\n${shown.join("\n---\n")}`)
        }
      }),
    (browser) => Effect.promise(() => browser.close())
  )

const shot = async (page: Page, name: string) => {
  if (screenshots === undefined) return
  mkdirSync(screenshots, { recursive: true })
  await page.screenshot({ path: Path.join(screenshots, name), fullPage: true })
}

/** Signs in on the page with `token` and waits for the list of tasks. */
const signIn = async (page: Page, base: string, token: string) => {
  await page.goto(`${base}/`)
  await page.getByLabel("API key").fill(token)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("heading", { name: "Tasks" }).waitFor()
}

/** The API directly, for what another person does meanwhile (fetch, as any script would). */
const apiCall = async (base: string, token: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "coder-session-token": token, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`)
  return text === "" ? undefined : JSON.parse(text)
}

layer(TestServer.layer(Backends.pglite), { timeout: 300_000, excludeTestServices: true })(
  "the console in Chromium",
  (it) => {
    it.effect(
      "sign in, create a task with the demo agent, talk to it, pause, resume, delete",
      () =>
        Effect.gen(function*() {
          const { url: base } = yield* TestServer.baseUrl
          const admin = yield* TestServer.clientFor(yield* adminToken)
          yield* admin.templates.create({
            params: { organization: "default" },
            payload: { name: uniqueName("demo"), display_name: "Demo agent", agent_command: demoAgent }
          })
          const user = yield* createUser()

          yield* withBrowser(async (browser) => {
            const context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
            const page = await context.newPage()
            const pageErrors: Array<string> = []
            page.on("pageerror", (error) => pageErrors.push(String(error)))
            page.on("console", (message) => {
              // A refused request (the 401 of a bad key) is logged by the browser itself; scripts must log nothing.
              if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
                pageErrors.push(message.text())
              }
            })

            // The page and its assets: the policy allows only taskd's own origin; hashed assets are immutable.
            const response = await page.goto(`${base}/`)
            assert.strictEqual(response?.status(), 200)
            assert.strictEqual(response?.headers()["cache-control"], "no-cache")
            assert.include(response?.headers()["content-security-policy"], "default-src 'self'")
            assert.include(response?.headers()["content-security-policy"], "script-src 'self'")

            // A bad key: Coder's message, on the sign-in form, and no cookie.
            await page.getByLabel("API key").fill("not-a-key")
            await page.getByRole("button", { name: "Sign in" }).click()
            const alert = page.getByRole("alert")
            await alert.waitFor()
            assert.include(await alert.innerText(), "You are signed out or your session has expired")
            assert.include(await alert.innerText(), "Invalid API key format")
            assert.deepStrictEqual(await context.cookies(), [])

            // The right key: the list, and the key kept as an HttpOnly, SameSite=Strict cookie.
            await page.getByLabel("API key").fill(user.token)
            await page.getByRole("button", { name: "Sign in" }).click()
            await page.getByRole("heading", { name: "Tasks" }).waitFor()
            assert.include(await page.locator("header.top").innerText(), user.username)
            const [cookie] = await context.cookies()
            assert.strictEqual(cookie?.name, "coder_session_token")
            assert.strictEqual(cookie?.value, user.token)
            assert.isTrue(cookie?.httpOnly)
            assert.strictEqual(cookie?.sameSite, "Strict")
            assert.isFalse(cookie?.secure) // plain http here; https sets Secure
            const script = await page.locator("script[src]").getAttribute("src")
            const asset = await fetch(`${base}${script}`)
            assert.strictEqual(asset.headers.get("cache-control"), "public, max-age=31536000, immutable")

            // Create a task from the template.
            await page.getByRole("link", { name: "New task" }).first().click()
            await page.getByLabel("Template").selectOption({ label: "Demo agent" })
            await page.getByLabel("Prompt").fill("Build me a web app")
            await page.getByLabel("Name").fill("web-app")
            await page.getByRole("button", { name: "Create task" }).click()
            await page.waitForURL(/#\/tasks\//)
            const taskId = page.url().split("/").at(-1)!

            // It becomes active, and the agent's answer to the prompt appears.
            await page.locator("h1 .badge", { hasText: "active" }).waitFor({ timeout: processMs })
            await page.locator(".message.output pre", { hasText: "Done: Build me a web app" }).waitFor({
              timeout: processMs
            })
            await page.locator(".agent.waiting").waitFor({ timeout: processMs })

            // Send input; the answer appears without reloading.
            const send = page.getByRole("button", { name: "Send" })
            await page.locator(".send button:not([disabled])").waitFor({ timeout: processMs })
            await page.getByLabel("Message to the agent").fill("Add a login page")
            await send.click()
            await page.locator(".message.output pre", { hasText: "Done: Add a login page" }).waitFor({
              timeout: processMs
            })
            await page.locator(".agent.waiting").waitFor({ timeout: processMs })
            assert.deepStrictEqual(
              await page.locator(".message .role").allInnerTexts(),
              ["You", "Agent", "You", "Agent"]
            )
            await shot(page, "conversation.png")

            // Pause: the conversation stays, input is refused with the reason, the prompt can be edited.
            await page.getByRole("button", { name: "Pause" }).click()
            await page.locator("h1 .badge", { hasText: "paused" }).waitFor({ timeout: processMs })
            assert.strictEqual(await page.locator(".message").count(), 4)
            assert.isTrue(await send.isDisabled())
            assert.include(await page.locator("#send-reason").innerText(), "paused")
            await page.getByLabel("Prompt (editable while paused)").fill("Build me a better web app")
            await page.getByRole("button", { name: "Save prompt" }).click()
            await page.getByText("Prompt saved.").waitFor()
            const edited = await apiCall(base, user.token, "GET", `/api/v2/tasks/me/${taskId}`)
            assert.strictEqual(edited.initial_prompt, "Build me a better web app")

            // Resume: active again, the history still there.
            await page.getByRole("button", { name: "Resume" }).click()
            await page.locator("h1 .badge", { hasText: "active" }).waitFor({ timeout: processMs })
            assert.isAtLeast(await page.locator(".message").count(), 4)

            // The list shows it; on a phone it is one card per task.
            await page.getByRole("link", { name: "Tasks" }).first().click()
            const row = page.locator(`tr[data-task="${taskId}"]`)
            await row.waitFor()
            assert.include(await row.innerText(), "web-app")
            assert.include(await row.innerText(), "Demo agent")
            await shot(page, "tasks.png")
            await page.setViewportSize({ width: 390, height: 844 })
            await shot(page, "tasks-phone.png")
            await page.setViewportSize({ width: 1200, height: 800 })

            // Delete, after a confirmation.
            await row.getByRole("link").click()
            await page.getByRole("button", { name: "Delete" }).click()
            await page.getByRole("dialog").waitFor()
            await page.getByRole("button", { name: "Delete the task" }).click()
            await page.getByRole("heading", { name: "Tasks" }).waitFor()
            await page.locator(`tr[data-task="${taskId}"]`).waitFor({ state: "detached" })
            const gone = await fetch(`${base}/api/v2/tasks/me/${taskId}`, {
              headers: { "coder-session-token": user.token }
            })
            assert.strictEqual(gone.status, 404)

            // Sign out clears the cookie.
            await page.getByRole("button", { name: "Sign out" }).click()
            await page.getByLabel("API key").waitFor()
            assert.deepStrictEqual(await context.cookies(), [])
            assert.deepStrictEqual(pageErrors, [], pageErrors.join("\n"))
          })
        }),
      { timeout: 240_000 }
    )

    it.effect(
      "a member sees only their own tasks, in the list and by URL; an owner sees everyone's",
      () =>
        Effect.gen(function*() {
          const { url: base } = yield* TestServer.baseUrl
          const ownerKey = yield* adminToken
          const admin = yield* TestServer.clientFor(ownerKey)
          // No agent: the tasks only need to exist.
          const template = yield* admin.templates.create({
            params: { organization: "default" },
            payload: { name: uniqueName("plain"), agent_command: "sleep 600" }
          })
          const member = yield* createUser()
          const ownersTask = yield* admin.tasks.create({
            params: { user: "me" },
            payload: { template_version_id: template.active_version_id, input: "owner's secret work" }
          })

          yield* withBrowser(async (browser) => {
            const page = await (await browser.newContext()).newPage()
            await signIn(page, base, member.token)
            await page.getByText("No tasks.").waitFor()

            // A task of the member's, created elsewhere, appears in the open list.
            const mine = await apiCall(base, member.token, "POST", "/api/v2/tasks/me", {
              template_version_id: template.active_version_id,
              input: "member's work"
            })
            await page.locator(`tr[data-task="${mine.id}"]`).waitFor({ timeout: 30_000 })
            assert.strictEqual(await page.locator(`tr[data-task="${ownersTask.id}"]`).count(), 0)
            assert.strictEqual(await page.locator("#owner").count(), 0)

            // By URL: Coder's 404, nothing of the task.
            await page.goto(`${base}/#/tasks/admin/${ownersTask.id}`)
            const alert = page.getByRole("alert")
            await alert.waitFor()
            assert.include(await alert.innerText(), "Resource not found")
            assert.notInclude(await page.locator("main").innerText(), "owner's secret work")

            // The owner sees both, and filters by owner.
            const owner = await (await browser.newContext()).newPage()
            await signIn(owner, base, ownerKey)
            await owner.locator(`tr[data-task="${mine.id}"]`).waitFor()
            await owner.locator(`tr[data-task="${ownersTask.id}"]`).waitFor()
            await owner.locator(`#owner option[value="${member.username}"]`).waitFor({ state: "attached" })
            await owner.getByLabel("Owner").selectOption(member.username)
            await owner.locator(`tr[data-task="${ownersTask.id}"]`).waitFor({ state: "detached" })
            assert.strictEqual(await owner.locator(`tr[data-task="${mine.id}"]`).count(), 1)
          })
        }),
      { timeout: 240_000 }
    )
  }
)
