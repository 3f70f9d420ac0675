/**
 * TokenAuth turns a request into a user or an agent. It is the only thing that reads tokens; a host
 * application replaces it to map its own sessions to taskd users.
 *
 * The default reads the token as Coder does (cookie, query parameter, `Coder-Session-Token` header, then
 * `Authorization: Bearer`) and checks it against the hashes in the database.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { AgentActor, UserActor } from "../Domain/Actor.ts"
import { Unauthorized } from "../Domain/CoderError.ts"
import { formatTime } from "../Domain/Time.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import { AgentTokenRepo } from "./AgentTokenRepo.ts"
import { ApiKeyRepo } from "./ApiKeyRepo.ts"
import { hashSecret, parseApiKey, sameHash } from "./Tokens.ts"

export class TokenAuth extends Context.Tag("taskd/TokenAuth")<TokenAuth, {
  readonly authenticateUser: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<UserActor, Unauthorized>
  readonly authenticateAgent: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<AgentActor, Unauthorized>
}>() {}

const cookieName = "coder_session_token"

/** The session token of a request, from the first place Coder looks that has one. */
export const requestToken = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const cookie = request.cookies[cookieName]
  if (cookie) return cookie
  const search = new URL(request.url, "http://taskd").searchParams
  const query = search.get(cookieName)
  if (query) return query
  const header = request.headers["coder-session-token"]
  if (header) return header
  const authorization = request.headers["authorization"]
  if (authorization !== undefined && /^bearer /i.test(authorization)) {
    const bearer = authorization.slice(7).trim()
    if (bearer) return bearer
  }
  const accessToken = search.get("access_token")
  return accessToken ? accessToken : undefined
}

const signedOut = (detail: string) =>
  new Unauthorized({
    message: "You are signed out or your session has expired. Please sign in again to continue.",
    detail
  })

const agentNotAuthorized = new Unauthorized({
  message: "Workspace agent not authorized.",
  detail: "The agent cannot authenticate until the workspace provision job has been completed. " +
    "If the job is no longer running, this agent is invalid."
})

/** TokenAuth backed by taskd's own api_keys and workspace_agents tables. */
export const layer = Layer.effect(
  TokenAuth,
  Effect.gen(function*() {
    const apiKeys = yield* ApiKeyRepo
    const agents = yield* AgentTokenRepo

    const authenticateUser = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const token = requestToken(request)
        if (token === undefined) {
          return yield* signedOut(`Cookie "${cookieName}" or query parameter must be provided.`)
        }
        const parsed = parseApiKey(token)
        if ("error" in parsed) return yield* signedOut(`Invalid API key format: ${parsed.error}`)
        const key = yield* apiKeys.findWithUser(parsed.parts.id)
        if (key === undefined) return yield* signedOut("API key is invalid.")
        if (!sameHash(hashSecret(parsed.parts.secret), key.hashedSecret)) {
          return yield* signedOut("API key secret is invalid.")
        }
        const now = yield* Clock.currentTimeMillis
        if (key.expiresAt.getTime() <= now) {
          return yield* signedOut(`API key expired at "${formatTime(key.expiresAt)}".`)
        }
        return { id: key.userId, username: key.username, role: key.role } satisfies UserActor
      })

    const authenticateAgent = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const token = requestToken(request)
        if (token === undefined) {
          return yield* new Unauthorized({ message: `Cookie "${cookieName}" must be provided.` })
        }
        if (!isCanonicalUuid(token)) {
          return yield* new Unauthorized({
            message: "Workspace agent token invalid.",
            detail: `An agent token must be a valid UUIDv4. (len ${token.length})`
          })
        }
        const agent = yield* agents.findAuthorized(hashSecret(token.toLowerCase()))
        if (agent === undefined) return yield* agentNotAuthorized
        return agent
      })

    return { authenticateUser, authenticateAgent }
  })
).pipe(Layer.provide([ApiKeyRepo.Default, AgentTokenRepo.Default]))
