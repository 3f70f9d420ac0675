/**
 * Webhooks across processes (issue 15 §3: "a receiver down for a while then back, two instances"),
 * Postgres only (PGlite is one process's database: skipped without TEST_DATABASE_URL, and said so in the
 * name). Two `taskd serve` child processes on one fresh database, with the same TASKD_SECRET_KEY, and a
 * webhook receiver in this process (node:http) that checks every `Taskd-Signature` as the README shows.
 *
 * Two tasks are created, paused, resumed, paused again and deleted through both instances' APIs. Meanwhile
 * the receiver answers 503 for a while, then stops listening, then comes back; the first delivery it gets
 * once back is held unanswered, and the instance that sent it is killed with SIGKILL. The other instance
 * takes the held delivery over once the killed one's heartbeat is stale (TASKD_INSTANCE_TIMEOUT) and
 * delivers the rest. Checked against the deliveries the database recorded: every event arrives, signed;
 * each task's events arrive in order (per-task sequence `n`, and so `created_at`); a delivery keeps its id
 * and body on every retry; nothing is delivered again once the receiver answered 2xx, except an attempt
 * whose 2xx answer the killed instance never recorded (the rule is spelled out at `duplicatesAllowed`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto"
import * as http from "node:http"
import * as Backends from "./support/Backends.ts"
import * as ChildServer from "./support/ChildServer.ts"
import { instanceOf, query } from "./support/Postgres.ts"
import { pollUntil } from "./support/TaskFlow.ts"

const testDatabaseUrl = Backends.testDatabaseUrl

/** Said in the test's name, so that a run without it shows why it was skipped. */
const needs = "(Postgres only: needs TEST_DATABASE_URL)"

/**
 * Fast takeovers (a killed instance counts as gone 2 s after its last heartbeat), fast retries (100 ms,
 * doubling) and polls; attempts enough that nothing is given up while the receiver is down (a few seconds
 * here), so that every event must arrive.
 */
const fast = {
  TASKD_INSTANCE_TIMEOUT: "2 seconds",
  TASKD_WEBHOOK_BACKOFF: "100 millis",
  TASKD_WEBHOOK_ATTEMPTS: "20",
  TASKD_WEBHOOK_TIMEOUT: "5 seconds",
  TASKD_WEBHOOK_POLL: "100 millis",
  TASKD_WEBHOOK_ALLOW: "127.0.0.1/8"
}

const events = ["task.created", "task.status_changed", "task.deleted"]

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** The README's verification, replay window included. */
const verify = (secret: string, header: string, rawBody: string) => {
  const { t, v1 } = Object.fromEntries(header.split(",").map((part) => part.split("=")))
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest()
  return v1 !== undefined && timingSafeEqual(Buffer.from(v1, "hex"), expected) &&
    Math.abs(Date.now() / 1000 - Number(t)) < 300
}

interface Receipt {
  readonly raw: string
  readonly json: { id: string; event: string; created_at: string; task: Record<string, unknown> }
  readonly signature: string
  /** What the receiver answered: a status, or nothing (held until the sender died). */
  readonly answer: number | "held"
  /** Whether the killed instance had exited when this arrived (so it came from the survivor). */
  readonly afterKill: boolean
}

interface Receiver {
  readonly url: string
  readonly receipts: Array<Receipt>
  /** What a request gets while listening. */
  answer: 200 | 503
  /** Set once the killed instance has exited. */
  afterKill: boolean
  /** Holds the next request unanswered; resolves with it. */
  readonly holdNext: () => Promise<Receipt>
  /** Stops listening (connections cut): the receiver is down. */
  readonly stop: () => Promise<void>
  /** Listens again on the same port. */
  readonly restart: () => Promise<void>
}

/** A webhook receiver on 127.0.0.1 for the life of the scope, on one port for all of it. */
const receiver = Effect.acquireRelease(
  Effect.promise(async () => {
    let hold: ((receipt: Receipt) => void) | undefined
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8")
        const held = hold
        hold = undefined
        const receipt: Receipt = {
          raw,
          json: JSON.parse(raw) as Receipt["json"],
          signature: String(req.headers["taskd-signature"] ?? ""),
          answer: held !== undefined ? "held" : self.answer,
          afterKill: self.afterKill
        }
        self.receipts.push(receipt)
        if (held !== undefined) return held(receipt)
        res.writeHead(receipt.answer as number)
        res.end()
      })
    })
    const listen = (port: number) =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject)
          resolve((server.address() as { port: number }).port)
        })
      })
    const port = await listen(0)
    const self: Receiver & { server: http.Server } = {
      server,
      url: `http://127.0.0.1:${port}/hook`,
      receipts: [],
      answer: 200,
      afterKill: false,
      holdNext: () => new Promise<Receipt>((resolve) => hold = resolve),
      stop: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        }),
      restart: () => listen(port).then(() => undefined)
    }
    return self
  }),
  (self) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        if (!self.server.listening) return resolve()
        self.server.close(() => resolve())
        self.server.closeAllConnections()
      })
    )
)

const call = (base: string, method: string, path: string, body?: unknown) =>
  Effect.promise(() => ChildServer.call(base, method, path, body === undefined ? {} : { body }))

/** GET the task through `base` until its status is one of `statuses`. */
const waitForStatus = (base: string, taskId: string, statuses: ReadonlyArray<string>) =>
  pollUntil(
    call(base, "GET", `/api/v2/tasks/me/${taskId}`),
    (response) => response.status === 200 && statuses.includes(response.json.status),
    (last) => `task ${taskId} never became ${statuses.join(" or ")}: ${last?.status} ${last?.text}`,
    30_000
  )

/** A task action through `base` that must answer 2xx. */
const act = (base: string, method: string, path: string, body?: unknown) =>
  Effect.gen(function*() {
    const response = yield* call(base, method, path, body)
    assert.isTrue(
      response.status >= 200 && response.status < 300,
      `${method} ${path}: ${response.status} ${response.text}`
    )
    return response
  })

interface Delivery {
  readonly n: number
  readonly id: string
  readonly task_id: string
  readonly event: string
  readonly state: string
  readonly attempts: number
  readonly created_at: Date
}

const deliveries = (databaseUrl: string, webhookId: string) =>
  query(
    databaseUrl,
    "SELECT n::int AS n, id::text, task_id::text, event, state, attempts, created_at FROM webhook_deliveries " +
      "WHERE webhook_id = $1 ORDER BY n",
    [webhookId]
  ).pipe(Effect.map((rows) => rows as unknown as Array<Delivery>))

/**
 * The at-least-once rule across a SIGKILL. Once the receiver answered 2xx to a delivery, the instance that
 * sent it records it delivered and it is never sent again, with one exception: the killed instance may
 * have got a 2xx answer it never recorded (the delivery was still `delivering` on it when it died, in
 * `unrecorded`); the survivor then takes that delivery over and sends it again. So after a delivery's
 * first 2xx answer, a later receipt is allowed only when that answer went out before the kill, the
 * delivery is one the killed instance held unrecorded, and the receipt came after the kill (from the
 * survivor); and after its first 2xx answer following the kill, nothing at all.
 */
const duplicatesAllowed = (receipts: ReadonlyArray<Receipt>, unrecorded: boolean): string | undefined => {
  const ok = (receipt: Receipt) => typeof receipt.answer === "number" && receipt.answer < 300
  const first = receipts.findIndex(ok)
  if (first === -1 || first === receipts.length - 1) return undefined
  const rest = receipts.slice(first + 1)
  if (!unrecorded || receipts[first]!.afterKill || !rest.every((receipt) => receipt.afterKill)) {
    return `sent again after a recorded 2xx answer: ${JSON.stringify(receipts.map((r) => [r.answer, r.afterKill]))}`
  }
  const second = rest.findIndex(ok)
  return second === -1 || second === rest.length - 1
    ? undefined
    : `sent again after the survivor's 2xx answer: ${JSON.stringify(receipts.map((r) => [r.answer, r.afterKill]))}`
}

describe.skipIf(testDatabaseUrl === undefined)(`webhooks across processes ${needs}`, () => {
  it.live(
    "with the receiver down for a while then back and a SIGKILL of the instance delivering, every event arrives, " +
      "signed, in order per task, with one body per delivery id, and none again after a recorded 2xx",
    () =>
      Effect.gen(function*() {
        const databaseUrl = yield* Backends.freshPostgresUrl(testDatabaseUrl!)
        const hook = yield* receiver
        const env = { DATABASE_URL: databaseUrl, TASKD_SECRET_KEY: randomBytes(32).toString("base64"), ...fast }
        const first = yield* ChildServer.start(env)
        const second = yield* ChildServer.start(env)
        const children = new Map([
          [yield* instanceOf(databaseUrl, first), first],
          [yield* instanceOf(databaseUrl, second), second]
        ])

        // Registered through one instance; the other signs with the same secret (same key).
        const registered = yield* act(first.url, "POST", "/api/v2/users/me/webhooks", { url: hook.url, events })
        const webhook = registered.json as { id: string; secret: string }
        const template = yield* act(first.url, "POST", "/api/v2/organizations/default/templates", {
          name: `tpl-${randomUUID().slice(0, 8)}`
        })
        const createTask = (base: string) =>
          act(base, "POST", "/api/v2/tasks/me", {
            template_version_id: template.json.active_version_id,
            input: "work"
          }).pipe(Effect.map((response) => String(response.json.id)))
        const one = yield* createTask(first.url)
        const two = yield* createTask(second.url)
        yield* waitForStatus(first.url, one, ["initializing"])
        yield* waitForStatus(second.url, two, ["initializing"])

        // Down, answering: 503s, retried, while both tasks are paused.
        hook.answer = 503
        yield* act(first.url, "POST", `/api/v2/tasks/me/${one}/pause`)
        yield* act(second.url, "POST", `/api/v2/tasks/me/${two}/pause`)
        yield* waitForStatus(first.url, one, ["paused"])
        yield* waitForStatus(second.url, two, ["paused"])
        yield* pollUntil(
          Effect.sync(() => hook.receipts.filter((receipt) => receipt.answer === 503).length),
          (count) => count >= 4,
          (last) => `only ${last} attempts answered 503`
        )

        // Down, not listening: connections refused, while the first task resumes.
        yield* Effect.promise(() => hook.stop())
        yield* act(second.url, "POST", `/api/v2/tasks/me/${one}/resume`)
        yield* pollUntil(
          query(
            databaseUrl,
            "SELECT count(*)::int AS c FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'pending' " +
              "AND attempts > 0 AND last_status IS NULL",
            [webhook.id]
          ),
          (rows) => Number(rows[0]!["c"]) > 0,
          () => "no attempt failed to connect"
        )
        yield* sleep(1_000)

        // Back; the first delivery it gets is held, and the instance sending it killed before it hears back.
        hook.answer = 200
        const holding = hook.holdNext()
        yield* Effect.promise(() => hook.restart())
        const held = yield* Effect.promise(() => holding)
        const delivering = yield* query(
          databaseUrl,
          "SELECT instance_id::text FROM webhook_deliveries WHERE id = $1 AND state = 'delivering'",
          [held.json.id]
        )
        assert.strictEqual(delivering.length, 1, JSON.stringify(delivering))
        const killedId = String(delivering[0]!["instance_id"])
        const killed = children.get(killedId)
        assert.isDefined(killed, `the instance delivering is not one of the two: ${killedId}`)
        const survivor = killed === first ? second : first
        killed!.signal("SIGKILL")
        yield* Effect.promise(() => killed!.exited(10_000))
        hook.afterKill = true
        // What the killed instance held unrecorded (taken before the survivor could take any over: its
        // heartbeat is stale only 2 s after the last one, heartbeats being every 500 ms).
        const unrecorded = new Set(
          (yield* query(
            databaseUrl,
            "SELECT id::text FROM webhook_deliveries WHERE instance_id = $1 AND state = 'delivering'",
            [killedId]
          )).map((row) => String(row["id"]))
        )
        assert.isTrue(unrecorded.has(held.json.id), JSON.stringify([...unrecorded]))

        // More events through the survivor: the second task deleted, the first paused again.
        yield* act(survivor.url, "DELETE", `/api/v2/tasks/me/${two}`)
        yield* waitForStatus(survivor.url, one, ["initializing"])
        yield* act(survivor.url, "POST", `/api/v2/tasks/me/${one}/pause`)
        yield* waitForStatus(survivor.url, one, ["paused"])

        // Everything recorded delivered, and the receiver has every delivery answered 2xx.
        const recorded = yield* pollUntil(
          deliveries(databaseUrl, webhook.id),
          (rows) =>
            rows.some((row) => row.task_id === two && row.event === "task.deleted") &&
            rows.every((row) => row.state === "delivered"),
          (last) => `not all delivered: ${JSON.stringify(last?.map((row) => [row.event, row.state, row.attempts]))}`,
          90_000
        )
        const byId = new Map(recorded.map((row) => [row.id, row]))
        const okIds = new Set(
          hook.receipts.filter((receipt) => receipt.answer === 200).map((receipt) => receipt.json.id)
        )
        for (const row of recorded) assert.isTrue(okIds.has(row.id), `${row.event} ${row.id} was never answered 2xx`)

        for (const receipt of hook.receipts) {
          assert.isTrue(verify(webhook.secret, receipt.signature, receipt.raw), receipt.signature)
          const row = byId.get(receipt.json.id)
          assert.isDefined(row, `a delivery taskd did not record: ${receipt.raw}`)
          assert.deepStrictEqual(Object.keys(receipt.json), ["id", "event", "created_at", "task"])
          assert.strictEqual(receipt.json.event, row!.event)
          assert.strictEqual(receipt.json.task["id"], row!.task_id)
          assert.strictEqual(Date.parse(receipt.json.created_at), row!.created_at.getTime())
        }

        // One body per delivery id, and no delivery again after a recorded 2xx.
        for (const id of byId.keys()) {
          const all = hook.receipts.filter((receipt) => receipt.json.id === id)
          assert.deepStrictEqual(new Set(all.map((receipt) => receipt.raw)).size, 1, `bodies of ${id} differ`)
          const problem = duplicatesAllowed(all, unrecorded.has(id))
          assert.isUndefined(problem, `${byId.get(id)!.event} ${id}: ${problem}`)
        }
        // The held delivery was sent again by the survivor, the retries after the 503s and refusals too.
        assert.isTrue(
          hook.receipts.some((receipt) =>
            receipt.json.id === held.json.id && receipt.afterKill && receipt.answer === 200
          )
        )
        assert.isAtLeast(byId.get(held.json.id)!.attempts, 2)
        assert.isTrue(hook.receipts.some((receipt) => receipt.answer === 503 && okIds.has(receipt.json.id)))

        // In order per task: each receipt is of the task's earliest delivery not yet answered 2xx (or a
        // repeat of one answered before the kill), so the sequence numbers it sees never go back, and the
        // first 2xx answers come in the order the database numbered the deliveries (n, and created_at).
        for (const task of [one, two]) {
          const rows = recorded.filter((row) => row.task_id === task)
          const seen = hook.receipts.filter((receipt) => receipt.json.task["id"] === task).map((receipt) =>
            byId.get(receipt.json.id)!.n
          )
          assert.deepStrictEqual(seen, [...seen].sort((a, b) => a - b), `task ${task} out of order`)
          const firstOk = [
            ...new Set(
              hook.receipts.filter((receipt) => receipt.json.task["id"] === task && receipt.answer === 200).map((r) =>
                r.json.id
              )
            )
          ]
          assert.deepStrictEqual(firstOk, rows.map((row) => row.id), `task ${task}: 2xx answers out of order`)
          const times = rows.map((row) => row.created_at.getTime())
          assert.deepStrictEqual(times, [...times].sort((a, b) => a - b))
          assert.strictEqual(rows[0]!.event, "task.created")
          assert.isAtLeast(rows.filter((row) => row.event === "task.status_changed").length, 2)
        }
        const events2 = recorded.filter((row) => row.task_id === two).map((row) => row.event)
        assert.strictEqual(events2.at(-1), "task.deleted")
        assert.strictEqual(events2.filter((event) => event === "task.deleted").length, 1)
      }),
    240_000
  )
})
