/**
 * The command line end to end, as a user runs it: `npm start` (the README's command: the bundle of
 * `npm run build` on plain Node) as a child process on its own embedded database, and the admin commands
 * against it. Every wait is bounded by a real timer, and the server's
 * whole process group is stopped at the end.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { freePort } from "./support/Net.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const apiKeyPattern = /^[a-zA-Z0-9]{10}-[a-zA-Z0-9]{22}$/

/** The environment of a first start: embedded in-memory database, nothing inherited that changes taskd. */
const cliEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, TASKD_DATA_DIR: "memory://" }
  for (const name of ["DATABASE_URL", "TASKD_BOOTSTRAP_TOKEN", "TASKD_URL", "TASKD_TOKEN", "PORT", "HOST"]) {
    delete env[name]
  }
  return env
}

interface Served {
  readonly url: string
  readonly adminToken: string
  /** Everything the server printed so far. */
  readonly output: () => string
}

class CliServer extends Context.Service<CliServer, Served>()("test/CliServer") {}

const startupTimeoutMs = 90_000
const commandTimeoutMs = 60_000

/** Resolves once `ready` returns a value, polling every 200 ms; fails after `timeoutMs`. */
const waitFor = <A>(what: string, timeoutMs: number, ready: () => Promise<A | undefined>) =>
  Effect.tryPromise({
    try: async () => {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const value = await ready().catch(() => undefined)
        if (value !== undefined) return value
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    },
    catch: (error) => error as Error
  })

/** `npm start` on a free port, in its own process group, stopped (the whole group) with the scope. */
const serve = Effect.gen(function*() {
  const port = yield* freePort
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn("npm", ["start"], {
        cwd: root,
        env: { ...cliEnv(), PORT: String(port) },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"]
      })
    ),
    (child) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const kill = (signal: NodeJS.Signals) => {
            try {
              process.kill(-child.pid!, signal)
            } catch {
              // The group is already gone.
            }
          }
          const hard = setTimeout(() => kill("SIGKILL"), 10_000)
          child.once("exit", () => {
            clearTimeout(hard)
            resolve()
          })
          kill("SIGTERM")
        })
      )
  )
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => output += chunk)
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => output += chunk)
  const url = `http://127.0.0.1:${port}`

  const adminToken = yield* waitFor("the admin token", startupTimeoutMs, async () => {
    if (child.exitCode !== null) throw new Error(`taskd serve exited with ${child.exitCode}:\n${output}`)
    return /Admin session token \(shown only this once\): (\S+)/.exec(output)?.[1]
  }).pipe(Effect.mapError((error) => new Error(`${error.message}\n${output}`)))
  yield* waitFor("the server to answer", startupTimeoutMs, async () => {
    const response = await fetch(`${url}/api/v2/users/me`, { headers: { "Coder-Session-Token": adminToken } })
    return response.status === 200 ? true : undefined
  }).pipe(Effect.mapError((error) => new Error(`${error.message}\n${output}`)))
  return { url, adminToken, output: () => output } satisfies Served
})

interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `taskd <args>` to completion (killed after a minute). */
const taskd = (...args: ReadonlyArray<string>) =>
  Effect.promise(() =>
    new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, ["src/main.ts", ...args], {
        cwd: root,
        env: cliEnv(),
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
      const timer = setTimeout(() => child.kill("SIGKILL"), commandTimeoutMs)
      child.on("close", (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })
  )

/** Runs an admin command against the served instance as `token` (the admin by default). */
const admin = (args: ReadonlyArray<string>, token?: string) =>
  Effect.flatMap(CliServer, (server) => taskd(...args, "--url", server.url, "--token", token ?? server.adminToken))

const api = (path: string, init: { readonly token: string; readonly method?: string; readonly body?: unknown }) =>
  Effect.flatMap(CliServer, (server) =>
    Effect.promise(async () => {
      const response = await fetch(`${server.url}${path}`, {
        method: init.method ?? "GET",
        headers: { "Coder-Session-Token": init.token, "content-type": "application/json" },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
      })
      return { status: response.status, json: await response.json() as any }
    }))

describe("taskd command line", () => {
  layer(Layer.effect(CliServer, serve), { timeout: 180_000 })((it) => {
    it.effect("serve prints the admin token once, on first start", () =>
      Effect.gen(function*() {
        const server = yield* CliServer
        assert.match(server.adminToken, apiKeyPattern)
        assert.include(server.output(), `Created organization "default" and owner "admin".`)
        assert.strictEqual(server.output().split(server.adminToken).length, 2, "the token is printed exactly once")
        const me = yield* api("/api/v2/users/me", { token: server.adminToken })
        assert.strictEqual(me.status, 200)
        assert.strictEqual(me.json.username, "admin")
        assert.deepStrictEqual(me.json.roles, ["owner"])
        // At the default level (Info) requests are not logged.
        assert.notMatch(server.output(), /DEBUG|: request\b/)
      }), { timeout: 120_000 })

    it.effect(
      "users create, tokens create and templates create, as an admin sets up an instance",
      () =>
        Effect.gen(function*() {
          const created = yield* admin(["users", "create", "--username", "bob", "--email", "bob@example.com", "--json"])
          assert.strictEqual(created.code, 0, created.stderr)
          assert.strictEqual(created.stderr, "")
          const bob = JSON.parse(created.stdout)
          assert.match(bob.id, uuidPattern)
          assert.strictEqual(bob.username, "bob")
          assert.strictEqual(bob.email, "bob@example.com")
          assert.deepStrictEqual(bob.roles, ["member"])
          assert.strictEqual(bob.organization_ids.length, 1)

          const token = yield* admin(["tokens", "create", "bob"])
          assert.strictEqual(token.code, 0, token.stderr)
          assert.strictEqual(token.stderr, "")
          const key = token.stdout.trim()
          assert.match(key, apiKeyPattern)
          assert.strictEqual(token.stdout, `${key}\n`)
          const me = yield* api("/api/v2/users/me", { token: key })
          assert.strictEqual(me.status, 200)
          assert.strictEqual(me.json.id, bob.id)

          const template = yield* admin(["templates", "create", "claude", "--app-url", "http://127.0.0.1:3284"])
          assert.strictEqual(template.code, 0, template.stderr)
          assert.strictEqual(template.stderr, "")
          const match = /^Created template claude \(([0-9a-f-]{36})\); active version ([0-9a-f-]{36})\.\n$/.exec(
            template.stdout
          )
          assert.isNotNull(match, template.stdout)
          // The template exists on the server: it takes a new version.
          const version = yield* api(`/api/v2/templates/${match![1]}/versions`, {
            token: (yield* CliServer).adminToken,
            method: "POST",
            body: {}
          })
          assert.strictEqual(version.status, 201)
          assert.strictEqual(version.json.template_id, match![1])
        }),
      { timeout: 150_000 }
    )

    it.effect(
      "errors: a duplicate user and a bad token exit non-zero with one readable line on stderr",
      () =>
        Effect.gen(function*() {
          const server = yield* CliServer
          const first = yield* api("/api/v2/users", {
            token: server.adminToken,
            method: "POST",
            body: { username: "dave", email: "dave@example.com" }
          })
          assert.strictEqual(first.status, 201)

          const duplicate = yield* admin(["users", "create", "--username", "Dave", "--email", "dave@example.com"])
          assert.strictEqual(duplicate.code, 1)
          assert.strictEqual(duplicate.stdout, "")
          assert.strictEqual(duplicate.stderr, `error: User "Dave" already exists.\n`)

          const signedOut = yield* admin(["tokens", "create", "me"], "abcdefghij-abcdefghijklmnopqrstuv")
          assert.strictEqual(signedOut.code, 1)
          assert.strictEqual(signedOut.stdout, "")
          assert.strictEqual(
            signedOut.stderr,
            "error: You are signed out or your session has expired. Please sign in again to continue. " +
              "(API key is invalid.)\n"
          )
        }),
      { timeout: 150_000 }
    )
  })
})
