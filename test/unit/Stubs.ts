/**
 * Unit tier stubs: a journal that stub services write to, a SqlClient with no database behind it (its
 * fake connection records BEGIN/COMMIT/ROLLBACK and refuses any other statement), a TaskRow builder, and the callers.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import type { UserActor } from "../../src/Domain/Actor.ts"
import type { TaskRow } from "../../src/Domain/Task.ts"
import type { User } from "../../src/Domain/User.ts"

/** What the stubs were asked to do, in order: `"TaskRepo.softDelete(id)"`, `"sql:BEGIN"`, ... */
export class Journal {
  readonly entries: Array<string> = []
  add(entry: string): void {
    this.entries.push(entry)
  }
  /** Records `entry`, then runs `effect`. */
  record<A, E, R>(entry: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.andThen(Effect.sync(() => this.add(entry)), effect)
  }
}

/**
 * A SqlClient whose only connection writes the transaction statements to `journal` as `sql:BEGIN`,
 * `sql:COMMIT`, `sql:ROLLBACK`, ... A query that reaches it is a defect: unit tests stub the
 * repositories, so SQL text never runs.
 */
export const recordingSql = (journal: Journal): Layer.Layer<SqlClient.SqlClient> => {
  const control = (sql: string) =>
    Effect.suspend(() => {
      if (/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/i.test(sql.trim())) {
        journal.add(`sql:${sql.trim()}`)
        return Effect.succeed([] as ReadonlyArray<any>)
      }
      return Effect.die(new Error(`unit test SqlClient: unexpected statement ${sql}`))
    })
  const connection: Connection = {
    execute: (sql) => control(sql),
    executeUnprepared: (sql) => control(sql),
    executeRaw: (sql) => control(sql),
    executeValues: (sql) => Effect.map(control(sql), () => []),
    executeValuesUnprepared: (sql) => Effect.map(control(sql), () => []),
    executeStream: (sql) => Stream.fromEffect(control(sql)).pipe(Stream.flatMap(Stream.fromIterable))
  }
  return Layer.effect(
    SqlClient.SqlClient,
    SqlClient.make({
      acquirer: Effect.succeed(connection),
      compiler: Statement.makeCompilerSqlite(),
      driver: "unit-test",
      spanAttributes: []
    })
  ).pipe(Layer.provide(Reactivity.layer))
}

/** A method a test does not expect to be called: a defect naming it. */
export const unused = (name: string) => (..._args: ReadonlyArray<unknown>): Effect.Effect<never> =>
  Effect.die(new Error(`${name} was not expected to be called`))

export const ids = {
  task: "11111111-1111-4111-8111-111111111111",
  organization: "22222222-2222-4222-8222-222222222222",
  owner: "33333333-3333-4333-8333-333333333333",
  version: "44444444-4444-4444-8444-444444444444",
  template: "55555555-5555-4555-8555-555555555555",
  workspace: "66666666-6666-4666-8666-666666666666",
  agent: "77777777-7777-4777-8777-777777777777",
  app: "88888888-8888-4888-8888-888888888888"
}

/** A task row as the view returns it: an active task with everything set (the spec §4.1 example). */
export const activeRow = (overrides: Partial<TaskRow> = {}): TaskRow => ({
  id: ids.task,
  organization_id: ids.organization,
  owner_id: ids.owner,
  owner_username: "alice",
  owner_avatar_url: "https://example.com/a.png",
  name: "build-me-a-web-app-3f2a",
  display_name: "Build me a web app",
  template_version_id: ids.version,
  prompt: "build me a web app",
  created_at: new Date("2025-09-25T10:40:00.000Z"),
  status: "active",
  workspace_id: ids.workspace,
  workspace_build_number: 1,
  workspace_agent_id: ids.agent,
  workspace_app_id: ids.app,
  workspace_agent_lifecycle_state: "ready",
  workspace_app_health: "healthy",
  template_id: ids.template,
  template_name: "claude",
  template_display_name: "Claude",
  template_icon: "/icon/claude.svg",
  workspace_name: "build-me-a-web-app-3f2a",
  workspace_updated_at: new Date("2025-09-25T10:41:00.000Z"),
  latest_build_transition: "start",
  latest_build_job_status: "succeeded",
  latest_build_created_at: new Date("2025-09-25T10:40:00.000Z"),
  app_status_state: "idle",
  app_status_message: "finished",
  app_status_uri: "",
  app_status_created_at: new Date("2025-09-25T10:46:50.000Z"),
  app_url: "http://localhost:3284",
  ...overrides
})

/** The callers the task tests act as: alice, a member who owns the tasks, and an owner. */
export const member: UserActor = { id: ids.owner, username: "alice", role: "member" }
export const admin: UserActor = { id: "99999999-9999-4999-8999-999999999999", username: "admin", role: "owner" }
export const alice: User = {
  id: ids.owner,
  username: "alice",
  email: "alice@example.com",
  avatar_url: "",
  roles: ["member"],
  organization_ids: [ids.organization],
  created_at: new Date(0)
}
