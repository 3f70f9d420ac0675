/**
 * Unit tier: the wire codecs in src/Domain (and the Task view built on them): Go's time text, Coder's
 * error body, the Task JSON (field order, omitempty, nulls), Go-style JSON reading, Coder's query-param
 * parser. Pure functions and schemas: no database, no server.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { MessagesPayload, PostMessageResponse, StatusResponse } from "../../src/Domain/AgentApi.ts"
import {
  BadRequest,
  BadRequestResponse,
  Conflict,
  ConflictResponse,
  NotFoundResponse,
  resourceNotFound,
  toBody,
  ValidationError
} from "../../src/Domain/CoderError.ts"
import { goShape, readGoJson, readGoJsonText } from "../../src/Domain/GoJson.ts"
import { goQuote } from "../../src/Domain/GoQuote.ts"
import { firstJsonValue } from "../../src/Domain/Json.ts"
import { parseParams, parseQuery } from "../../src/Domain/QueryParams.ts"
import { formatIssues } from "../../src/Domain/SchemaIssues.ts"
import {
  CreateTaskRequest,
  Task,
  TaskInputRequest,
  TaskLogsResponse,
  TasksListResponse,
  zeroUuid
} from "../../src/Domain/Task.ts"
import type { TaskRow } from "../../src/Domain/Task.ts"
import { canonicalRfc3339, formatTime, Rfc3339String, Timestamp, zeroTime } from "../../src/Domain/Time.ts"
import { parseUuid } from "../../src/Domain/Uuid.ts"
import { toTask } from "../../src/Tasks/TaskView.ts"
import { activeRow, ids } from "./Stubs.ts"

/** What Coder clients receive: the schema's encoding through JSON.stringify. */
const wire = <S extends Schema.Codec<any, any, never, never>>(schema: S, value: S["Type"]): string =>
  JSON.stringify(Schema.encodeSync(schema)(value))

describe("Time: Go's RFC 3339 text", () => {
  it("formatTime writes UTC with trailing zeros of the fraction trimmed, and no fraction when zero", () => {
    assert.strictEqual(formatTime(new Date("2025-01-01T10:00:00.000Z")), "2025-01-01T10:00:00Z")
    assert.strictEqual(formatTime(new Date("2025-01-01T10:00:00.120Z")), "2025-01-01T10:00:00.12Z")
    assert.strictEqual(formatTime(new Date("2025-01-01T10:00:00.007Z")), "2025-01-01T10:00:00.007Z")
    assert.strictEqual(formatTime(new Date("2025-06-30T23:59:59.5+02:00")), "2025-06-30T21:59:59.5Z")
  })

  it("canonicalRfc3339 re-encodes as Go does: nanoseconds kept (9 digits at most), zeros trimmed, +00:00 is Z", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["2025-01-01T10:00:00Z", "2025-01-01T10:00:00Z"],
      ["2025-01-01T10:00:00.000Z", "2025-01-01T10:00:00Z"],
      ["2025-01-01T10:00:00.120000Z", "2025-01-01T10:00:00.12Z"],
      ["2025-01-01T10:00:00.123456789Z", "2025-01-01T10:00:00.123456789Z"],
      ["2025-01-01T10:00:00.1234567891Z", "2025-01-01T10:00:00.123456789Z"],
      ["2025-01-01T10:00:00+00:00", "2025-01-01T10:00:00Z"],
      ["2025-01-01T10:00:00-00:00", "2025-01-01T10:00:00Z"],
      ["2025-01-01T10:00:00.50+05:30", "2025-01-01T10:00:00.5+05:30"],
      ["2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"]
    ]
    for (const [input, expected] of cases) assert.strictEqual(canonicalRfc3339(input), expected, input)
  })

  it("canonicalRfc3339 refuses what Go's time.Parse(RFC3339) refuses", () => {
    for (
      const input of [
        "2025-02-29T00:00:00Z", // not a leap year
        "2025-04-31T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-01-01T24:00:00Z",
        "2025-01-01T10:60:00Z",
        "2025-01-01T10:00:60Z",
        "2025-01-01 10:00:00Z",
        "2025-01-01T10:00:00", // no zone
        "2025-01-01T10:00:00+24:00",
        "2025-1-01T10:00:00Z",
        "yesterday",
        ""
      ]
    ) assert.isUndefined(canonicalRfc3339(input), input)
  })

  it("Timestamp decodes RFC 3339 into a Date and encodes Go's text; a bad time is Go's parse error", () => {
    const decoded = Schema.decodeUnknownSync(Timestamp)("2025-01-01T10:00:00.5+01:00")
    assert.instanceOf(decoded, Date)
    assert.strictEqual(decoded.toISOString(), "2025-01-01T09:00:00.500Z")
    assert.strictEqual(Schema.encodeSync(Timestamp)(decoded), "2025-01-01T09:00:00.5Z")
    const bad = Schema.decodeUnknownResult(Timestamp)("2025-13-01T00:00:00Z")
    assert.isTrue(Result.isFailure(bad))
    if (Result.isFailure(bad)) {
      assert.strictEqual(formatIssues(bad.failure), `parsing time "2025-13-01T00:00:00Z" as RFC 3339`)
    }
  })

  it("Rfc3339String keeps text (offset and nanoseconds survive) in Go's form", () => {
    assert.strictEqual(
      Schema.decodeUnknownSync(Rfc3339String)("2025-01-01T10:00:00.123456789000+05:30"),
      "2025-01-01T10:00:00.123456789+05:30"
    )
    const bad = Schema.decodeUnknownResult(Rfc3339String)("2025-01-01")
    assert.isTrue(Result.isFailure(bad))
    if (Result.isFailure(bad)) assert.strictEqual(formatIssues(bad.failure), `parsing time "2025-01-01" as RFC 3339`)
    assert.strictEqual(zeroTime, "0001-01-01T00:00:00Z")
  })
})

describe("CoderError: Coder's error body on the wire", () => {
  it("is {message, detail?, validations?} with no _tag, in that key order", () => {
    const error = new BadRequest({
      message: "Invalid task search query.",
      detail: "d",
      validations: [new ValidationError({ field: "q", detail: "x" })]
    })
    assert.strictEqual(
      wire(BadRequestResponse, error),
      `{"message":"Invalid task search query.","detail":"d","validations":[{"field":"q","detail":"x"}]}`
    )
  })

  it("leaves out an empty detail and empty validations (Go's omitempty)", () => {
    assert.strictEqual(
      wire(ConflictResponse, new Conflict({ message: "m", detail: "", validations: [] })),
      `{"message":"m"}`
    )
    assert.deepStrictEqual(toBody({ message: "m", detail: "", validations: [] }), { message: "m" })
    assert.deepStrictEqual(toBody({ message: "m", detail: "d" }), { message: "m", detail: "d" })
  })

  it("the standard 404 is Coder's text, and is the same error for missing and forbidden", () => {
    assert.strictEqual(
      wire(NotFoundResponse, resourceNotFound()),
      `{"message":"Resource not found or you do not have access to this resource"}`
    )
    assert.strictEqual(resourceNotFound()._tag, "NotFound")
  })

  it("decodes a Coder body back into the tagged class (the typed client's view)", () => {
    const decoded = Schema.decodeUnknownSync(BadRequestResponse)({ message: "m", detail: "d" })
    assert.instanceOf(decoded, BadRequest)
    assert.strictEqual(decoded._tag, "BadRequest")
    assert.strictEqual(decoded.message, "m")
    assert.strictEqual(decoded.detail, "d")
  })
})

describe("Task JSON (spec §4.1)", () => {
  it("an active task: every field, in Go's field order, with Go's time text", () => {
    assert.strictEqual(
      wire(Task, toTask(activeRow())),
      JSON.stringify({
        id: ids.task,
        organization_id: ids.organization,
        owner_id: ids.owner,
        owner_name: "alice",
        owner_avatar_url: "https://example.com/a.png",
        name: "build-me-a-web-app-3f2a",
        display_name: "Build me a web app",
        template_id: ids.template,
        template_version_id: ids.version,
        template_name: "claude",
        template_display_name: "Claude",
        template_icon: "/icon/claude.svg",
        workspace_id: ids.workspace,
        workspace_name: "build-me-a-web-app-3f2a",
        workspace_status: "running",
        workspace_build_number: 1,
        workspace_agent_id: ids.agent,
        workspace_agent_lifecycle: "ready",
        workspace_agent_health: { healthy: true },
        workspace_app_id: ids.app,
        initial_prompt: "build me a web app",
        status: "active",
        current_state: { timestamp: "2025-09-25T10:46:50Z", state: "idle", message: "finished", uri: "" },
        created_at: "2025-09-25T10:40:00Z",
        updated_at: "2025-09-25T10:41:00Z"
      })
    )
  })

  it("a task without a workspace yet: omitempty fields left out, pointers null, zero template id", () => {
    const row = activeRow({
      status: "pending",
      owner_avatar_url: "",
      workspace_id: null,
      workspace_build_number: null,
      workspace_agent_id: null,
      workspace_app_id: null,
      workspace_agent_lifecycle_state: null,
      workspace_app_health: null,
      template_id: null,
      template_name: null,
      template_display_name: null,
      template_icon: null,
      workspace_name: null,
      workspace_updated_at: null,
      latest_build_transition: null,
      latest_build_job_status: null,
      latest_build_created_at: null,
      app_status_state: null,
      app_status_message: null,
      app_status_uri: null,
      app_status_created_at: null,
      app_url: null
    })
    const json = JSON.parse(wire(Task, toTask(row)))
    assert.deepStrictEqual(Object.keys(json), [
      "id",
      "organization_id",
      "owner_id",
      "owner_name",
      "name",
      "display_name",
      "template_id",
      "template_version_id",
      "template_name",
      "template_display_name",
      "template_icon",
      "workspace_id",
      "workspace_name",
      "workspace_agent_id",
      "workspace_agent_lifecycle",
      "workspace_agent_health",
      "workspace_app_id",
      "initial_prompt",
      "status",
      "current_state",
      "created_at",
      "updated_at"
    ])
    assert.strictEqual(json.template_id, zeroUuid)
    assert.strictEqual(json.workspace_id, null)
    assert.strictEqual(json.workspace_agent_health, null)
    assert.strictEqual(json.current_state, null)
    assert.strictEqual(json.workspace_name, "")
  })

  // Spec §3.1: a task built from an empty workspace value has Go's zero `updated_at`,
  // "0001-01-01T00:00:00Z" (not the Unix epoch); so has the initializing state without a build.
  it("no workspace: updated_at is Go's zero time, not the Unix epoch", () => {
    const json = JSON.parse(wire(Task, toTask(activeRow({ workspace_updated_at: null }))))
    assert.strictEqual(json.updated_at, "0001-01-01T00:00:00Z")
  })

  it("build number 0 is omitted (omitempty); an unhealthy agent carries its reason", () => {
    const json = JSON.parse(wire(
      Task,
      toTask(activeRow({ workspace_build_number: 0, workspace_agent_lifecycle_state: "start_error" }))
    ))
    assert.isFalse("workspace_build_number" in json)
    assert.deepStrictEqual(json.workspace_agent_health, {
      healthy: false,
      reason: "agent startup script exited with an error"
    })
  })

  it("workspace_status follows the latest build (transition x job status)", () => {
    const cases: ReadonlyArray<
      readonly [TaskRow["latest_build_transition"], TaskRow["latest_build_job_status"], string]
    > = [
      ["start", "pending", "pending"],
      ["start", "running", "starting"],
      ["start", "succeeded", "running"],
      ["stop", "running", "stopping"],
      ["stop", "succeeded", "stopped"],
      ["delete", "running", "deleting"],
      ["delete", "succeeded", "deleted"],
      ["start", "failed", "failed"],
      ["stop", "canceling", "canceling"],
      ["stop", "canceled", "canceled"]
    ]
    for (const [transition, job, expected] of cases) {
      const task = toTask(activeRow({ latest_build_transition: transition, latest_build_job_status: job }))
      assert.strictEqual(task.workspace_status, expected, `${transition}/${job}`)
    }
  })

  it("current_state: a stale app status is ignored only after a newer start build (spec §5.2)", () => {
    const build = new Date("2025-09-25T11:00:00.000Z")
    const earlier = new Date("2025-09-25T10:50:00.000Z")
    // After a stop, the earlier state is still shown.
    const stopped = toTask(activeRow({
      status: "paused",
      latest_build_transition: "stop",
      latest_build_created_at: build,
      app_status_state: "complete",
      app_status_message: "all done",
      app_status_created_at: earlier
    }))
    assert.deepStrictEqual(stopped.current_state, {
      timestamp: earlier,
      state: "complete",
      message: "all done",
      uri: ""
    })
    // After a new start it is replaced by a working initialization message, timed at the build.
    const restarted = toTask(activeRow({
      status: "initializing",
      latest_build_transition: "start",
      latest_build_job_status: "running",
      latest_build_created_at: build,
      workspace_agent_lifecycle_state: null,
      app_status_state: "complete",
      app_status_created_at: earlier
    }))
    assert.deepStrictEqual(restarted.current_state, {
      timestamp: build,
      state: "working",
      message: "Workspace is starting",
      uri: ""
    })
    // Not initializing and no fresh status: null.
    const none = toTask(activeRow({ app_status_state: null, app_status_created_at: null }))
    assert.strictEqual(none.current_state, null)
  })

  it("current_state while initializing: the message follows build status, agent lifecycle and app health", () => {
    const initializing = (overrides: Partial<TaskRow>) =>
      toTask(activeRow({
        status: "initializing",
        app_status_state: null,
        app_status_created_at: null,
        latest_build_job_status: "succeeded",
        ...overrides
      })).current_state?.message
    assert.strictEqual(initializing({ latest_build_job_status: "pending" }), "Workspace is pending")
    assert.strictEqual(initializing({ workspace_agent_lifecycle_state: null }), "Initializing workspace")
    assert.strictEqual(initializing({ workspace_agent_lifecycle_state: "created" }), "Agent is connecting")
    assert.strictEqual(initializing({ workspace_agent_lifecycle_state: "starting" }), "Agent is starting")
    assert.strictEqual(
      initializing({ workspace_agent_lifecycle_state: "ready", workspace_app_health: "initializing" }),
      "App is initializing"
    )
    assert.strictEqual(
      initializing({ workspace_agent_lifecycle_state: "ready", workspace_app_health: null }),
      "Initializing workspace applications"
    )
    assert.strictEqual(
      initializing({ workspace_agent_lifecycle_state: "start_timeout" }),
      "Initializing workspace agent"
    )
  })

  it("the list response is {tasks, count}; the logs response omits snapshot false and snapshot_at", () => {
    assert.strictEqual(wire(TasksListResponse, { tasks: [], count: 0 }), `{"tasks":[],"count":0}`)
    assert.strictEqual(wire(TaskLogsResponse, { logs: [] }), `{"logs":[]}`)
    assert.strictEqual(
      wire(TaskLogsResponse, {
        logs: [{ id: 0, content: "hi", type: "output", time: "2025-01-01T10:00:00Z" }],
        snapshot: true,
        snapshot_at: new Date("2025-01-01T10:05:00.000Z")
      }),
      `{"logs":[{"id":0,"content":"hi","type":"output","time":"2025-01-01T10:00:00Z"}],"snapshot":true,` +
        `"snapshot_at":"2025-01-01T10:05:00Z"}`
    )
  })
})

describe("Go-style JSON reading (readGoJson, firstJsonValue)", () => {
  const read = (schema: { readonly ast: any }, body: string | Uint8Array) => readGoJson(schema, body)

  it("matches keys to fields case-insensitively and drops null fields (Go leaves them zero)", () => {
    assert.deepStrictEqual(read(TaskInputRequest, `{"INPUT":"a"}`), Result.succeed({ input: "a" }))
    assert.deepStrictEqual(read(TaskInputRequest, `{"Input":null}`), Result.succeed({}))
    // Then the declared default fills the zero value in.
    assert.deepStrictEqual(Schema.decodeUnknownSync(TaskInputRequest)({}), { input: "" })
  })

  it("keeps unknown keys (the decoder ignores them) and folds the keys of the schema's wire side", () => {
    const read1 = read(CreateTaskRequest, `{"Template_Version_ID":"${ids.version}","NAME":null,"extra":1}`)
    assert.deepStrictEqual(read1, Result.succeed({ template_version_id: ids.version, extra: 1 }))
    const decoded = Schema.decodeUnknownSync(CreateTaskRequest)(Result.getOrThrow(read1))
    assert.deepStrictEqual(decoded, { template_version_id: ids.version, input: "" })
  })

  it("reads only the first JSON value; trailing bytes are ignored", () => {
    assert.deepStrictEqual(read(TaskInputRequest, `{"input":"a"} {"input":"b"}`), Result.succeed({ input: "a" }))
    assert.deepStrictEqual(read(TaskInputRequest, `{"input":"a"}garbage`), Result.succeed({ input: "a" }))
  })

  it("decodes bytes as Go does: invalid UTF-8 becomes U+FFFD", () => {
    const bytes = new Uint8Array([...new TextEncoder().encode(`{"input":"a`), 0xff, ...new TextEncoder().encode(`b"}`)])
    assert.deepStrictEqual(read(TaskInputRequest, bytes), Result.succeed({ input: "a\uFFFDb" }))
  })

  it("fails with Go's decoder texts: EOF, unexpected EOF, exceeded max depth", () => {
    assert.deepStrictEqual(read(TaskInputRequest, ""), Result.fail("EOF"))
    assert.deepStrictEqual(read(TaskInputRequest, "  \n"), Result.fail("EOF"))
    assert.deepStrictEqual(read(TaskInputRequest, `{"input":"a`), Result.fail("unexpected EOF"))
    assert.deepStrictEqual(read(TaskInputRequest, `[1,2`), Result.fail("unexpected EOF"))
    assert.deepStrictEqual(
      read(TaskInputRequest, `{"input":` + "[".repeat(10_001) + "]".repeat(10_001) + "}"),
      Result.fail("exceeded max depth")
    )
    assert.isTrue(Result.isFailure(read(TaskInputRequest, `{"input":}`)))
  })

  it("a top-level null is passed on as is (the caller decides)", () => {
    assert.deepStrictEqual(read(TaskInputRequest, "null"), Result.succeed(null))
  })

  it("with two keys for one field and no exact match, the last one wins", () => {
    assert.deepStrictEqual(read(TaskInputRequest, `{"Input":"a","INPUT":"b"}`), Result.succeed({ input: "b" }))
  })

  // Go's decoder (encoding/json object()) stores each key into the field it matches, exact or folded,
  // in document order: with both "input" and "Input" present the LAST one wins. "Preferring an exact
  // match" in Go's docs chooses between FIELDS, not between keys. A null key leaves the field as it was.
  it("exact and folded keys for one field: the later key wins, as in Go; a later null changes nothing", () => {
    assert.deepStrictEqual(read(TaskInputRequest, `{"input":"b","Input":"a"}`), Result.succeed({ input: "a" }))
    assert.deepStrictEqual(read(TaskInputRequest, `{"Input":"a","input":"b"}`), Result.succeed({ input: "b" }))
    assert.deepStrictEqual(read(TaskInputRequest, `{"input":"b","INPUT":null}`), Result.succeed({ input: "b" }))
  })

  it("a truncated top-level scalar is Go's \"unexpected EOF\"; other bad scalars keep the parser's text", () => {
    for (const text of ["tru", "nul", "f", "-", "1.", "1e", "-2.5E+"]) {
      assert.deepStrictEqual(firstJsonValue(text), Result.fail("unexpected EOF"), text)
    }
    for (const text of ["trux", "tru ", "1.e5", "nulll"]) {
      const result = firstJsonValue(text)
      assert.isTrue(Result.isFailure(result) && result.failure !== "unexpected EOF", text)
    }
    assert.deepStrictEqual(firstJsonValue("12"), Result.succeed(12))
    assert.deepStrictEqual(firstJsonValue("true x"), Result.succeed(true))
  })

  it("goShape returns its input itself when Go's reading changes nothing", () => {
    const body = { messages: [{ id: 1, content: "c", role: "agent", time: "2025-01-01T10:00:00Z" }], extra: 1 }
    assert.strictEqual(goShape(body, MessagesPayload.ast), body)
    const folded = { messages: [{ id: 1, Content: "c" }, { id: 2 }] }
    const shaped = goShape(folded, MessagesPayload.ast) as any
    assert.notStrictEqual(shaped, folded)
    assert.deepStrictEqual(shaped, { messages: [{ id: 1, content: "c" }, { id: 2 }] })
    // Unchanged parts are shared, not copied.
    assert.strictEqual(shaped.messages[1], folded.messages[1])
    assert.deepStrictEqual(folded, { messages: [{ id: 1, Content: "c" }, { id: 2 }] }, "the input is not changed")
  })

  it("a __proto__ key stays an own key (as JSON.parse made it), never a prototype", () => {
    const parsed = JSON.parse(`{"__proto__":{"input":"x"},"Input":"y"}`)
    const shaped = goShape(parsed, TaskInputRequest.ast) as Record<string, unknown>
    assert.strictEqual(Object.getPrototypeOf(shaped), Object.prototype)
    assert.deepStrictEqual(Object.keys(shaped), ["__proto__", "input"])
    assert.strictEqual(shaped.input, "y")
  })
})

describe("readGoJsonText: the text the framework parses (src/Http/Body.ts)", () => {
  it("the usual body is passed on as its own text (the first value's)", () => {
    const body = `{"messages":[{"id":1,"content":"c"}]}`
    assert.deepStrictEqual(
      Result.map(readGoJsonText(MessagesPayload, body), (read) => read.text),
      Result.succeed(body)
    )
    const trailing = readGoJsonText(MessagesPayload, ` {"messages":[]} {"x":1}`)
    assert.deepStrictEqual(Result.map(trailing, (read) => read.text), Result.succeed(`{"messages":[]}`))
  })

  it("a changed body is written out again, and parses to the shaped value", () => {
    const read = Result.getOrThrow(readGoJsonText(MessagesPayload, `{"Messages":[{"ID":3,"time":null}]}`))
    assert.deepStrictEqual(read.value, { messages: [{ id: 3 }] })
    assert.deepStrictEqual(JSON.parse(read.text), read.value)
  })

  // JSON.stringify writes Infinity as null, which Go-style decoding reads as the zero value: an id of
  // 1e400 in a body with a folded key would silently be stored as 0. The text keeps it beyond float64.
  it("a number beyond float64 stays beyond it, whether the body is passed on or written out", () => {
    for (const body of [`{"messages":[{"id":1e400}]}`, `{"Messages":[{"id":1e400,"role":null},{"id":-1e999}]}`]) {
      const read = Result.getOrThrow(readGoJsonText(MessagesPayload, body))
      const ids = JSON.parse(read.text).messages.map((message: { id: number }) => message.id)
      assert.strictEqual(ids[0], Infinity, body)
      if (ids.length > 1) assert.strictEqual(ids[1], -Infinity, body)
      const decoded = Schema.decodeUnknownExit(MessagesPayload)(JSON.parse(read.text))
      assert.isTrue(decoded._tag === "Failure", body)
    }
  })
})

describe("goQuote: Go's %q, as Coder quotes user input in validation texts", () => {
  it("escapes quotes, backslashes and control characters; keeps printable Unicode", () => {
    assert.strictEqual(goQuote("bob"), `"bob"`)
    assert.strictEqual(goQuote(`"bob"`), `"\\"bob\\""`)
    assert.strictEqual(goQuote("a\\b\tc\n"), `"a\\\\b\\tc\\n"`)
    assert.strictEqual(goQuote("\x1b[0m\x7f"), `"\\x1b[0m\\x7f"`)
    assert.strictEqual(goQuote("héllo ✓ 😀"), `"héllo ✓ 😀"`)
    assert.strictEqual(goQuote("\u00a0\u200b"), `"\\u00a0\\u200b"`)
  })
})

describe("Coder's query-param parser (parseParams, parseQuery)", () => {
  const plain = (validations: ReadonlyArray<ValidationError>) =>
    validations.map((validation) => ({ field: validation.field, detail: validation.detail }))

  it("takes each known key once; a repeated key is reported with its count and not applied", () => {
    const parsed = parseParams([["format", "agentapi"], ["q", "a"], ["q", "b"], ["q", "c"]], {
      known: ["format", "q"]
    })
    assert.deepStrictEqual(parsed.values, { format: "agentapi" })
    assert.deepStrictEqual(plain(parsed.validations), [{
      field: "q",
      detail: `Query param "q" provided more than once, found 3 times. Only provide 1 instance of this query param.`
    }])
  })

  it("a required key that is missing or empty is reported; an empty optional one is just absent", () => {
    const missing = parseParams([], { known: ["format"], required: ["format"] })
    assert.deepStrictEqual(plain(missing.validations), [{
      field: "format",
      detail: `Query param "format" is required and cannot be empty`
    }])
    const empty = parseParams([["format", ""]], { known: ["format"], required: ["format"] })
    assert.deepStrictEqual(plain(empty.validations), plain(missing.validations))
    const optional = parseParams([["q", ""]], { known: ["q"] })
    assert.deepStrictEqual(optional, { values: {}, validations: [] })
    // Coder's parseQueryParam checks the FIRST value before it counts them: an empty first is "not given".
    const emptyFirst = parseParams([["format", ""], ["format", "agentapi"]], {
      known: ["format"],
      required: ["format"]
    })
    assert.deepStrictEqual(plain(emptyFirst.validations), plain(missing.validations))
    assert.deepStrictEqual(parseParams([["q", ""], ["q", "x"]], { known: ["q"] }), { values: {}, validations: [] })
  })

  it("keys are quoted as Go's %q quotes them", () => {
    const parsed = parseParams([[`a"b`, "1"]], { known: [] })
    assert.deepStrictEqual(plain(parsed.validations), [{ field: `a"b`, detail: `"a\\"b" is not a valid query param` }])
  })

  it("unknown keys are reported after the known ones, in the order they came", () => {
    const parsed = parseParams([["zeta", "1"], ["format", "x"], ["format", "y"], ["alpha", "2"]], {
      known: ["format"],
      required: ["format"]
    })
    assert.deepStrictEqual(plain(parsed.validations).map((validation) => validation.field), ["format", "zeta", "alpha"])
    assert.strictEqual(plain(parsed.validations)[1]!.detail, `"zeta" is not a valid query param`)
  })

  it("parseQuery reads a request's (relative) URL, percent-decoding values", () => {
    const parsed = parseQuery(
      { url: "/api/v2/workspaceagents/me/tasks/x/log-snapshot?format=agent%61pi&coder_session_token=t" },
      { known: ["format"], required: ["format"] }
    )
    assert.deepStrictEqual(parsed.values, { format: "agentapi" })
    assert.deepStrictEqual(plain(parsed.validations), [{
      field: "coder_session_token",
      detail: `"coder_session_token" is not a valid query param`
    }])
  })
})

describe("UUIDs as google/uuid parses them", () => {
  it("accepts the 36-character, {…}, urn:uuid: and 32-hex forms, returning the canonical lower-case one", () => {
    const canonical = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    for (
      const form of [
        canonical,
        canonical.toUpperCase(),
        `{${canonical}}`,
        `urn:uuid:${canonical}`,
        canonical.replaceAll("-", "")
      ]
    ) assert.deepStrictEqual(parseUuid(form), Result.succeed(canonical), form)
  })

  it("answers google/uuid's error texts", () => {
    assert.deepStrictEqual(parseUuid("not-a-uuid"), Result.fail("invalid UUID length: 10"))
    assert.deepStrictEqual(parseUuid("g".repeat(36)), Result.fail("invalid UUID format"))
    assert.deepStrictEqual(parseUuid("x".repeat(45)), Result.fail(`invalid urn prefix: "xxxxxxxxx"`))
  })
})

describe("request and agentapi codecs: Go's zero values and the issue texts", () => {
  const issues = (schema: Schema.Codec<any, any, never, never>, input: unknown): string => {
    const result = Schema.decodeUnknownResult(schema)(input, { errors: "all", reportInput: true })
    return Result.isFailure(result) ? formatIssues(result.failure) : "decoded"
  }

  it("CreateTaskRequest: a missing version is the zero UUID (names no version), a missing input is \"\"", () => {
    assert.deepStrictEqual(Schema.decodeUnknownSync(CreateTaskRequest)({}), {
      template_version_id: zeroUuid,
      input: ""
    })
    const detail = issues(CreateTaskRequest, { template_version_id: "nope", input: 5 })
    // Every problem, each with its path, in field order (the optional key also lists "Expected undefined").
    assert.isTrue(
      detail.startsWith(`template_version_id: Expected UUID, actual "nope"; input: Expected string, actual 5`)
    )
  })

  it("agentapi's POST /message answer: a missing or null ok is false, as in Go", () => {
    assert.deepStrictEqual(Schema.decodeUnknownSync(PostMessageResponse)({}), { ok: false })
    assert.deepStrictEqual(Schema.decodeUnknownSync(PostMessageResponse)({ ok: null }), { ok: false })
    assert.deepStrictEqual(Schema.decodeUnknownSync(PostMessageResponse)({ ok: true }), { ok: true })
  })

  it("agentapi's GET /status: status is required, the rest optional; a missing key reads \"is missing\"", () => {
    assert.deepStrictEqual(Schema.decodeUnknownSync(StatusResponse)({ status: "stable", backend: "x" }), {
      status: "stable"
    })
    assert.strictEqual(issues(StatusResponse, { agent_type: "claude" }), "status: is missing")
  })
})
