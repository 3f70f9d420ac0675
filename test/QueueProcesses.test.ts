/**
 * Queued input across processes (issue 15 §3), Postgres only (PGlite is one process's database: skipped
 * without TEST_DATABASE_URL, and said so in the name). Two `taskd serve` child processes on one fresh
 * database, the agentapi double in this process as the task's agent, messages queued while it is busy.
 * The instance delivering is killed with SIGKILL right after the double took a message and before that
 * instance could record it as sent; the other instance takes the message over once the killed one's
 * heartbeat is stale (TASKD_INSTANCE_TIMEOUT), finds it in the agent's conversation instead of sending it
 * again, and delivers the rest: every message reaches the agent exactly once, in order.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import * as AgentApiDouble from "./support/AgentApiDouble.ts"
import * as Backends from "./support/Backends.ts"
import * as ChildServer from "./support/ChildServer.ts"
import { instanceOf, query } from "./support/Postgres.ts"
import { pollUntil } from "./support/TaskFlow.ts"

const testDatabaseUrl = Backends.testDatabaseUrl

/** Said in the test's name, so that a run without it shows why it was skipped. */
const needs = "(Postgres only: needs TEST_DATABASE_URL)"

/** Fast takeovers (a killed instance counts as gone 2 s after its last heartbeat), fast queue rounds. */
const fast = {
  TASKD_INSTANCE_TIMEOUT: "2 seconds",
  TASKD_RECORDER_POLL: "250 millis",
  TASKD_QUEUE_POLL: "100 millis"
}

const inputs = ["one", "two", "three", "four", "five", "six"]

/** The message whose delivery is cut short by the kill (1-based). */
const heldMessage = 3

interface Gate {
  readonly url: string
  /** Resolves once the double has taken `POST /message` number `holdAt`, whose answer is then withheld. */
  readonly held: Promise<void>
}

/**
 * A pass-through to the double at `target` (the task's app URL points here): every request and answer as
 * it is, event streams included, except the answer to `POST /message` number `holdAt`, which is never
 * passed on. The double has then taken that message; the instance that sent it cannot know.
 */
const gate = (target: string, holdAt: number) =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; gate: Gate }>((resume) => {
      let posts = 0
      let release = () => {}
      const held = new Promise<void>((resolve) => release = resolve)
      const server = http.createServer((req, res) => {
        const upstream = http.request(
          `${target}${req.url ?? "/"}`,
          { method: req.method ?? "GET", headers: req.headers },
          (answer) => {
            if (req.method === "POST" && req.url === "/message" && ++posts === holdAt) {
              answer.resume()
              return release()
            }
            res.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(res)
          }
        )
        upstream.on("error", () => res.destroy())
        res.on("close", () => upstream.destroy())
        req.pipe(upstream)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port
        resume(Effect.succeed({ server, gate: { url: `http://127.0.0.1:${port}`, held } }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ gate }) => gate))

/**
 * A task whose app is `appUrl`, created through `base` and made active by acting as its agent. The instant
 * provisioner hands the agent token to no one, so the test gives the task's agent a token of its own (only
 * the token's SHA-256 is stored) and reports ready and healthy with it over HTTP.
 */
const activeTask = (base: string, databaseUrl: string, appUrl: string) =>
  Effect.gen(function*() {
    const created = yield* Effect.promise(async () => {
      const template = await ChildServer.call(base, "POST", "/api/v2/organizations/default/templates", {
        body: { name: `tpl-${randomUUID().slice(0, 8)}`, app_url: appUrl }
      })
      assert.strictEqual(template.status, 201, template.text)
      return ChildServer.call(base, "POST", "/api/v2/tasks/me", {
        body: { template_version_id: template.json.active_version_id, input: "work" }
      })
    })
    assert.strictEqual(created.status, 201, created.text)
    const taskId: string = created.json.id
    const agents = yield* pollUntil(
      query(
        databaseUrl,
        `SELECT a.id FROM tasks t
         JOIN workspace_builds b ON b.workspace_id = t.workspace_id
         JOIN workspace_agents a ON a.workspace_build_id = b.id
         WHERE t.id = $1`,
        [taskId]
      ),
      (rows) => rows.length === 1,
      () => `task ${taskId} has no agent`
    )
    const agentToken = randomUUID()
    yield* query(
      databaseUrl,
      "UPDATE workspace_agents SET auth_token_hash = sha256(convert_to($2, 'UTF8')) WHERE id = $1",
      [
        agents[0]!["id"],
        agentToken
      ]
    )
    const manifest = yield* pollUntil(
      Effect.promise(() => ChildServer.call(base, "GET", "/api/v2/workspaceagents/me/manifest", { token: agentToken })),
      (response) => response.status === 200,
      (last) => `the agent's manifest: ${last?.status} ${last?.text}`
    )
    const appId: string = manifest.json.apps[0].id
    yield* Effect.promise(async () => {
      const ready = await ChildServer.call(base, "POST", "/api/v2/workspaceagents/me/report-lifecycle", {
        token: agentToken,
        body: { state: "ready" }
      })
      assert.strictEqual(ready.status, 204, ready.text)
      const healthy = await ChildServer.call(base, "POST", "/api/v2/workspaceagents/me/app-health", {
        token: agentToken,
        body: { healths: { [appId]: "healthy" } }
      })
      assert.strictEqual(healthy.status, 200, healthy.text)
    })
    yield* pollUntil(
      Effect.promise(() => ChildServer.call(base, "GET", `/api/v2/tasks/me/${taskId}`)),
      (response) => response.json?.status === "active",
      (last) => `task ${taskId} never became active: ${last?.text}`
    )
    return taskId
  })

/** The agent's status as taskd recorded it (the recorder's, which the queue's claims read). */
const recordedAgentStatus = (databaseUrl: string, taskId: string) =>
  query(databaseUrl, "SELECT agent_status FROM task_streams WHERE task_id = $1", [taskId]).pipe(
    Effect.map((rows) => rows[0]?.["agent_status"] ?? null)
  )

const userMessages = (agent: AgentApiDouble.AgentApiDouble) =>
  agent.messages.filter((message) => message.role === "user").map((message) => message.content)

/** Every `POST /message` the double got, in order: a second attempt at a message would show here. */
const posted = (agent: AgentApiDouble.AgentApiDouble) =>
  agent.requests
    .filter((request) => request.method === "POST" && request.path === "/message")
    .map((request) => (JSON.parse(request.body) as { content: string }).content)

describe.skipIf(testDatabaseUrl === undefined)(`queued input across processes ${needs}`, () => {
  it.live(
    "messages queued while the agent is busy arrive in order once it is stable, and never twice across a SIGKILL " +
      "of the instance delivering",
    () =>
      Effect.gen(function*() {
        const databaseUrl = yield* Backends.freshPostgresUrl(testDatabaseUrl!)
        // Busy at first; then it answers each message on its own, running a while before it is stable again.
        const agent = yield* AgentApiDouble.make({ status: "running", autoReply: { steps: 2, stepMs: 50 } })
        const app = yield* gate(agent.url, heldMessage)
        const first = yield* ChildServer.start({ DATABASE_URL: databaseUrl, ...fast })
        const second = yield* ChildServer.start({ DATABASE_URL: databaseUrl, ...fast })
        const children = new Map([
          [yield* instanceOf(databaseUrl, first), first],
          [yield* instanceOf(databaseUrl, second), second]
        ])
        const taskId = yield* activeTask(first.url, databaseUrl, app.url)
        yield* pollUntil(
          recordedAgentStatus(databaseUrl, taskId),
          (status) => status === "running",
          (last) => `the agent's status recorded: ${String(last)}`
        )

        // Queued through both instances while the agent works: nothing is sent yet.
        for (const [index, input] of inputs.entries()) {
          const queued = yield* Effect.promise(() =>
            ChildServer.call(index % 2 === 0 ? first.url : second.url, "POST", `/api/v2/tasks/me/${taskId}/queue`, {
              body: { input }
            })
          )
          assert.strictEqual(queued.status, 202, queued.text)
        }
        assert.deepStrictEqual(posted(agent), [])

        // Stable: the messages go one by one, until the double has taken the held one.
        yield* agent.setStatus("stable")
        yield* Effect.promise(() => app.held)
        assert.deepStrictEqual(userMessages(agent), inputs.slice(0, heldMessage))
        const sending = yield* query(
          databaseUrl,
          "SELECT instance_id, input FROM task_queue WHERE task_id = $1 AND state = 'sending'",
          [taskId]
        )
        assert.strictEqual(sending.length, 1, JSON.stringify(sending))
        assert.strictEqual(sending[0]!["input"], inputs[heldMessage - 1])
        const delivering = children.get(String(sending[0]!["instance_id"]))
        assert.isDefined(delivering, `the instance delivering is not one of the two: ${JSON.stringify(sending)}`)
        const survivor = delivering === first ? second : first

        // Killed before it could record the message as sent.
        delivering!.signal("SIGKILL")
        yield* Effect.promise(() => delivering!.exited(10_000))

        yield* pollUntil(
          Effect.promise(() => ChildServer.call(survivor.url, "GET", `/api/v2/tasks/me/${taskId}/queue`)),
          (response) => response.status === 200 && response.json.queued.length === 0,
          (last) => `the queue never emptied: ${last?.text}; the agent has ${JSON.stringify(userMessages(agent))}`,
          90_000
        )
        assert.deepStrictEqual(userMessages(agent), inputs)
        assert.deepStrictEqual(posted(agent), inputs)
        const states = yield* query(databaseUrl, "SELECT input, state FROM task_queue WHERE task_id = $1 ORDER BY n", [
          taskId
        ])
        assert.deepStrictEqual(states, inputs.map((input) => ({ input, state: "sent" })))
      }),
    240_000
  )
})
