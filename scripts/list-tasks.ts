/**
 * The typed client: lists your tasks and prints each one's logs.
 *
 *   TASKD_URL=http://127.0.0.1:8080 TASKD_TOKEN=<api key> node scripts/list-tasks.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { makeClient } from "../src/index.ts"

const program = Effect.gen(function*() {
  const client = yield* makeClient({
    baseUrl: process.env["TASKD_URL"] ?? "http://127.0.0.1:8080",
    token: process.env["TASKD_TOKEN"]
  })
  const { count, tasks } = yield* client.tasks.list({ query: { q: "owner:me" } })
  yield* Console.log(`${count} task(s)`)
  for (const task of tasks) {
    yield* Console.log(`${task.name} [${task.status}] ${task.initial_prompt}`)
    const logs = yield* client.tasks.logs({ params: { user: task.owner_name, task: task.id } }).pipe(
      // A task that is starting has no logs yet: Coder's 409 body, decoded as a typed error.
      Effect.catchTag("Conflict", (error) => Effect.succeed({ logs: [], note: error.message }))
    )
    for (const entry of logs.logs) yield* Console.log(`  ${entry.type}: ${entry.content}`)
  }
})

program.pipe(Effect.provide(FetchHttpClient.layer), NodeRuntime.runMain)
