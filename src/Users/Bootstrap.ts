/**
 * First start on an empty database: organization `default` and owner `admin`, whose session token is
 * `TASKD_BOOTSTRAP_TOKEN` when set, or a generated one that is printed once.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { type ApiKeyParts, generateApiKey, hashSecret, parseApiKey } from "../Auth/Tokens.ts"

/** Long enough that the first key never expires under a running installation. */
const bootstrapKeyLifetimeMillis = 10 * 365 * 24 * 60 * 60 * 1000

const bootstrapLock = 7_358_214_302

/** The configured admin token, checked: a malformed one is a ConfigError that names the variable (not the value). */
const BootstrapToken = Config.option(Config.Redacted("TASKD_BOOTSTRAP_TOKEN")).pipe(
  Config.mapEffect((token) => {
    if (Option.isNone(token)) return Effect.succeed(Option.none<ApiKeyParts>())
    const parsed = parseApiKey(Redacted.value(token.value))
    return "parts" in parsed
      ? Effect.succeed(Option.some(parsed.parts))
      : Effect.fail(
        new Config.ConfigError(
          new ConfigProvider.SourceError({
            message: `TASKD_BOOTSTRAP_TOKEN is not a Coder API key: ${parsed.error}`
          })
        )
      )
  })
)

export interface BootstrapResult {
  /** The admin token, when taskd generated it (it is shown only this once). */
  readonly generatedToken: Option.Option<string>
  readonly created: boolean
}

/** Creates the first organization and owner if there are no users yet. Safe when instances race. */
export const bootstrap: Effect.Effect<BootstrapResult, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const configured = yield* BootstrapToken
  return yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(${bootstrapLock})`
    const existing = yield* sql`SELECT 1 FROM users LIMIT 1`
    if (existing.length > 0) return { generatedToken: Option.none(), created: false } satisfies BootstrapResult
    const now = new Date(yield* Clock.currentTimeMillis)
    const organizationId = randomUUID()
    const userId = randomUUID()
    const key = Option.getOrElse(configured, generateApiKey)
    yield* sql`INSERT INTO organizations (id, name, display_name, created_at)
               VALUES (${organizationId}, 'default', 'Default', ${now})
               ON CONFLICT DO NOTHING`
    const [organization] = yield* sql<{ id: string }>`SELECT id FROM organizations WHERE name = 'default'`
    yield* sql`INSERT INTO users (id, username, email, role, created_at)
               VALUES (${userId}, 'admin', 'admin@localhost', 'owner', ${now})`
    yield* sql`INSERT INTO organization_members (organization_id, user_id, created_at)
               VALUES (${organization!.id}, ${userId}, ${now})`
    yield* sql`INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, created_at)
               VALUES (${key.id}, ${hashSecret(key.secret)}, ${userId},
                       ${new Date(now.getTime() + bootstrapKeyLifetimeMillis)}, ${now})`
    return {
      generatedToken: Option.isSome(configured) ? Option.none() : Option.some(`${key.id}-${key.secret}`),
      created: true
    } satisfies BootstrapResult
  }))
}).pipe(Effect.orDie, Effect.withSpan("taskd.bootstrap"))
