/**
 * TokenAuth turns a request into a user or an agent. It is the only thing that reads tokens; a host
 * application replaces it to map its own sessions to taskd users.
 *
 * The default reads the token as Coder does (cookie, query parameter, `Coder-Session-Token` header, then
 * `Authorization: Bearer`) and checks it against the hashes in the database.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Layer from "effect/Layer"
import type { AgentActor, UserActor } from "../Domain/Actor.ts"
import { type NotFound, resourceNotFound, Unauthorized } from "../Domain/CoderError.ts"
import { formatTime } from "../Domain/Time.ts"
import { isCanonicalUuid } from "../Domain/Uuid.ts"
import { AgentTokenRepo } from "./AgentTokenRepo.ts"
import { ApiKeyRepo } from "./ApiKeyRepo.ts"
import { hashSecret, parseApiKey, sameHash } from "./Tokens.ts"

export class TokenAuth extends Context.Service<TokenAuth, {
  readonly authenticateUser: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<UserActor, Unauthorized>
  readonly authenticateAgent: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<AgentActor, Unauthorized>
  /**
   * The agent of a request that may act on a task: 401 when the request authenticates no agent (checked
   * first, as `authenticateAgent` would), the standard 404 when the task (a UUID) is missing, deleted or
   * not in the agent's workspace. The snapshot upload calls it before the body is read (spec §7.3).
   *
   * Optional: without it, the upload runs `authenticateAgent` and then looks the task up itself (two
   * statements). taskd's own `layer` answers both in one statement. A host whose TokenAuth keeps taskd's
   * agent tokens passes the builtin's on (`authenticateAgentForTask: builtin.authenticateAgentForTask`);
   * one that authenticates agents itself leaves it out, or must keep it consistent with its
   * `authenticateAgent`.
   */
  readonly authenticateAgentForTask?:
    | ((
      request: HttpServerRequest.HttpServerRequest,
      taskId: string
    ) => Effect.Effect<AgentActor, Unauthorized | NotFound>)
    | undefined
}>()("taskd/TokenAuth") {}

const cookieName = "coder_session_token"

/** The session token of a request, from the first place Coder looks that has one. */
export const requestToken = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const cookie = request.cookies[cookieName]
  if (cookie) return cookie
  // Most requests have no query string: skip parsing a URL for them (the header is the usual place).
  const search = request.url.includes("?") ? new URL(request.url, "http://taskd").searchParams : undefined
  const query = search?.get(cookieName)
  if (query) return query
  const header = request.headers["coder-session-token"]
  if (header) return header
  const authorization = request.headers["authorization"]
  if (authorization !== undefined && /^bearer /i.test(authorization)) {
    const bearer = authorization.slice(7).trim()
    if (bearer) return bearer
  }
  const accessToken = search?.get("access_token")
  return accessToken ? accessToken : undefined
}

const signedOut = (detail: string) =>
  new Unauthorized({
    message: "You are signed out or your session has expired. Please sign in again to continue.",
    detail
  })

/** An agent token that no authorized agent has (unknown, or not of the workspace's current build). */
export const agentNotAuthorized = new Unauthorized({
  message: "Workspace agent not authorized.",
  detail: "The agent cannot authenticate until the workspace provision job has been completed. " +
    "If the job is no longer running, this agent is invalid."
})

/**
 * The part of agent authentication that needs no database: the request's token, present and a UUID, as
 * the hash `AgentTokenRepo` looks up (401 with Coder's bodies otherwise).
 */
export const agentTokenHash = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Buffer, Unauthorized> => {
  const token = requestToken(request)
  if (token === undefined) {
    return Effect.fail(new Unauthorized({ message: `Cookie "${cookieName}" must be provided.` }))
  }
  if (!isCanonicalUuid(token)) {
    return Effect.fail(
      new Unauthorized({
        message: "Workspace agent token invalid.",
        detail: `An agent token must be a valid UUIDv4. (len ${token.length})`
      })
    )
  }
  return Effect.succeed(hashSecret(token.toLowerCase()))
}

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
        const agent = yield* agents.findAuthorized(yield* agentTokenHash(request))
        if (agent === undefined) return yield* agentNotAuthorized
        return agent
      })

    // The agent and the task in one statement (sql/0005 `authorized_agent_task`): the upload's hot path.
    const authenticateAgentForTask = (request: HttpServerRequest.HttpServerRequest, taskId: string) =>
      Effect.gen(function*() {
        const found = yield* agents.findAuthorizedForTask(yield* agentTokenHash(request), taskId)
        if (found === undefined) return yield* agentNotAuthorized
        if (found.taskWorkspaceId === undefined || found.taskWorkspaceId !== found.agent.workspaceId) {
          return yield* resourceNotFound()
        }
        return found.agent
      })

    return TokenAuth.of({ authenticateUser, authenticateAgent, authenticateAgentForTask })
  })
).pipe(Layer.provide([ApiKeyRepo.layer, AgentTokenRepo.layer]))
