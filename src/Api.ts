/**
 * The taskd HTTP API: Coder's Tasks API and the endpoints around it, declared once. Server, client,
 * OpenAPI document and tests are all derived from this declaration, which imports no server code.
 *
 * Request bodies and query strings are declared here for the client and the OpenAPI document; the server
 * reads them itself (see src/Http/), so that the 64 KiB cap and Coder's error bodies hold wherever the
 * groups are mounted.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { CurrentAgent, CurrentUser } from "./Domain/Actor.ts"
import { AppHealthRequest, AppStatusRequest, Manifest, ReportLifecycleRequest } from "./Domain/Agent.ts"
import { MessagesResponse } from "./Domain/AgentApi.ts"
import {
  BadGatewayResponse,
  BadRequestResponse,
  ConflictResponse,
  ForbiddenResponse,
  InternalServerErrorResponse,
  NotFoundResponse,
  ServiceUnavailableResponse,
  UnauthorizedResponse
} from "./Domain/CoderError.ts"
import {
  CreateTaskRequest,
  Task,
  TaskInputRequest,
  TaskLogsResponse,
  TasksListResponse,
  WorkspaceBuildResponse
} from "./Domain/Task.ts"
import { CreateTemplateRequest, CreateTemplateVersionRequest, Template, TemplateVersion } from "./Domain/Template.ts"
import { CreateUserRequest, GenerateApiKeyResponse, User } from "./Domain/User.ts"

/** Coder reads the token from a cookie, the query string, this header or a bearer token; the header is the usual one. */
const sessionToken = HttpApiSecurity.apiKey({ key: "Coder-Session-Token", in: "header" }).pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "A user API key `<10-char id>-<22-char secret>`. Also accepted as the `coder_session_token` cookie or query " +
      "parameter, or as `Authorization: Bearer <token>`."
  )
)

/**
 * Authentication reads the database: besides a 401 it can answer 503 while the database is unreachable,
 * or 500 on a bug, always with Coder's body.
 */
const authenticationFailure = Schema.Union(
  UnauthorizedResponse,
  BadRequestResponse,
  ServiceUnavailableResponse,
  InternalServerErrorResponse
)

/** Authenticates a user by API key and provides `CurrentUser`. */
export class UserAuthentication extends HttpApiMiddleware.Tag<UserAuthentication>()("taskd/UserAuthentication", {
  provides: CurrentUser,
  failure: authenticationFailure,
  security: { sessionToken }
}) {}

/** Authenticates a workspace agent by its agent token and provides `CurrentAgent`. */
export class AgentAuthentication extends HttpApiMiddleware.Tag<AgentAuthentication>()("taskd/AgentAuthentication", {
  provides: CurrentAgent,
  failure: authenticationFailure,
  security: {
    agentToken: HttpApiSecurity.apiKey({ key: "Coder-Session-Token", in: "header" }).pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "The workspace agent token (a UUID).")
    )
  }
}) {}

/**
 * A query parameter as the server receives it: it may be repeated. The server parses the query string
 * itself and reports repeats in Coder's words, so this schema must accept anything.
 */
export const QueryParam = Schema.Union(Schema.String, Schema.Array(Schema.String))

const userPath = Schema.Struct({ user: Schema.String })

export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.post("create", "/users")
      .setPayload(CreateUserRequest)
      .addSuccess(User, { status: 201 })
      .addError(ForbiddenResponse)
      .addError(ConflictResponse)
  )
  .add(HttpApiEndpoint.get("me", "/users/me").addSuccess(User))
  .add(
    HttpApiEndpoint.post("createApiKey", "/users/:user/keys")
      .setPath(userPath)
      .addSuccess(GenerateApiKeyResponse, { status: 201 })
      .addError(ForbiddenResponse)
  )
  .middleware(UserAuthentication)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Users")
{}

export class TemplatesGroup extends HttpApiGroup.make("templates")
  .add(
    HttpApiEndpoint.post("create", "/organizations/:organization/templates")
      .setPath(Schema.Struct({ organization: Schema.String }))
      .setPayload(CreateTemplateRequest)
      .addSuccess(Template, { status: 201 })
      .addError(ForbiddenResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.post("createVersion", "/templates/:template/versions")
      .setPath(Schema.Struct({ template: Schema.String }))
      .setPayload(CreateTemplateVersionRequest)
      .addSuccess(TemplateVersion, { status: 201 })
      .addError(ForbiddenResponse)
  )
  .middleware(UserAuthentication)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Templates")
{}

const taskPath = Schema.Struct({ user: Schema.String, task: Schema.String })

/**
 * The Tasks endpoints (spec §3). Coder serves them under /api/v2 and, for a transition period, under
 * /api/experimental as well; its SDKs use both, so taskd declares the same endpoints under each prefix.
 */
const tasksEndpoints = <const Name extends string>(name: Name) =>
  HttpApiGroup.make(name)
    .add(
      HttpApiEndpoint.get("list", "/tasks")
        .setUrlParams(Schema.Struct({ q: Schema.optional(QueryParam) }))
        .addSuccess(TasksListResponse)
    )
    .add(
      HttpApiEndpoint.post("create", "/tasks/:user")
        .setPath(userPath)
        .setPayload(CreateTaskRequest)
        .addSuccess(Task, { status: 201 })
        .addError(ConflictResponse)
    )
    .add(HttpApiEndpoint.get("get", "/tasks/:user/:task").setPath(taskPath).addSuccess(Task))
    .add(
      HttpApiEndpoint.del("delete", "/tasks/:user/:task")
        .setPath(taskPath)
        .addSuccess(HttpApiSchema.Accepted)
        .addError(ForbiddenResponse)
        .addError(ConflictResponse)
    )
    .add(
      HttpApiEndpoint.patch("updateInput", "/tasks/:user/:task/input")
        .setPath(taskPath)
        .setPayload(TaskInputRequest)
        .addSuccess(HttpApiSchema.NoContent)
        .addError(ConflictResponse)
    )
    .add(
      HttpApiEndpoint.post("send", "/tasks/:user/:task/send")
        .setPath(taskPath)
        .setPayload(TaskInputRequest)
        .addSuccess(HttpApiSchema.NoContent)
        .addError(ConflictResponse)
        .addError(BadGatewayResponse)
    )
    .add(
      HttpApiEndpoint.get("logs", "/tasks/:user/:task/logs")
        .setPath(taskPath)
        .addSuccess(TaskLogsResponse)
        .addError(ConflictResponse)
        .addError(BadGatewayResponse)
    )
    .add(
      HttpApiEndpoint.post("pause", "/tasks/:user/:task/pause")
        .setPath(taskPath)
        .addSuccess(WorkspaceBuildResponse, { status: 202 })
        .addError(ForbiddenResponse)
        .addError(ConflictResponse)
    )
    .add(
      HttpApiEndpoint.post("resume", "/tasks/:user/:task/resume")
        .setPath(taskPath)
        .addSuccess(WorkspaceBuildResponse, { status: 202 })
        .addError(ForbiddenResponse)
        .addError(ConflictResponse)
    )
    .middleware(UserAuthentication)

export class TasksGroup extends tasksEndpoints("tasks").prefix("/api/v2").annotate(OpenApi.Title, "Tasks") {}

export class ExperimentalTasksGroup extends tasksEndpoints("experimentalTasks")
  .prefix("/api/experimental")
  .annotate(OpenApi.Title, "Tasks (experimental paths)")
  .annotate(OpenApi.Description, "The same endpoints under Coder's transitional /api/experimental prefix.")
{}

export class AgentSnapshotsGroup extends HttpApiGroup.make("agentSnapshots")
  .add(
    HttpApiEndpoint.post("postLogSnapshot", "/workspaceagents/me/tasks/:task/log-snapshot")
      .setPath(Schema.Struct({ task: Schema.String }))
      .setUrlParams(Schema.Struct({ format: Schema.optional(QueryParam) }))
      .setPayload(MessagesResponse)
      .addSuccess(HttpApiSchema.NoContent)
      .annotate(
        OpenApi.Description,
        "Stores the last messages of the task's agentapi conversation (at most 64 KiB), replacing any earlier " +
          "snapshot. Called by the workspace's shutdown script with the agent token."
      )
  )
  .middleware(AgentAuthentication)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Task log snapshots")
{}

export class AgentGroup extends HttpApiGroup.make("agent")
  .add(HttpApiEndpoint.get("manifest", "/workspaceagents/me/manifest").addSuccess(Manifest))
  .add(
    HttpApiEndpoint.post("reportLifecycle", "/workspaceagents/me/report-lifecycle")
      .setPayload(ReportLifecycleRequest)
      .addSuccess(HttpApiSchema.NoContent)
  )
  .add(
    HttpApiEndpoint.post("appHealth", "/workspaceagents/me/app-health")
      .setPayload(AppHealthRequest)
      .addSuccess(HttpApiSchema.Empty(200))
  )
  .add(
    HttpApiEndpoint.patch("appStatus", "/workspaceagents/me/app-status")
      .setPayload(AppStatusRequest)
      .addSuccess(HttpApiSchema.Empty(200))
  )
  .middleware(AgentAuthentication)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Workspace agents")
{}

/** `{"status":"ok"}`: the body of a passing health check. */
export const HealthStatus = Schema.Struct({ status: Schema.Literal("ok") }).annotations({ identifier: "HealthStatus" })

/** Liveness and readiness probes for orchestrators and load balancers; no authentication. */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(HealthStatus)
      .annotate(OpenApi.Description, "200 while the process is alive and serving HTTP.")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(HealthStatus)
      .addError(ServiceUnavailableResponse)
      .annotate(OpenApi.Description, "200 when the database answers; 503 with Coder's error body when it does not.")
  )
  .annotate(OpenApi.Title, "Health")
{}

const parameterDescriptions: Record<string, string> = {
  user: "A user: its ID (UUID), its username, or `me`.",
  task: "A task: its ID (UUID), or its name among the user's tasks.",
  organization: "An organization: its ID (UUID) or its name (`default`).",
  template: "A template ID (UUID).",
  q: "A search query of `key:value` terms: `owner:<username|me>`, `organization:<name|id>`, `status:<status>`, " +
    "or a bare word, taken as the owner."
}

/** Every other place TokenAuth reads the same token from, in Coder's order, as alternatives to the header. */
const alternativeTokenSchemes: Record<string, Record<string, unknown>> = {
  sessionTokenCookie: {
    type: "apiKey",
    in: "cookie",
    name: "coder_session_token",
    description: "The same token (a user API key, or an agent token on agent endpoints) as a cookie; read first."
  },
  sessionTokenQuery: {
    type: "apiKey",
    in: "query",
    name: "coder_session_token",
    description: "The same token as a query parameter; read after the cookie."
  },
  bearerToken: {
    type: "http",
    scheme: "bearer",
    description: "The same token as `Authorization: Bearer <token>`; read after the `Coder-Session-Token` header."
  },
  accessTokenQuery: {
    type: "apiKey",
    in: "query",
    name: "access_token",
    description: "The same token as the `access_token` query parameter; read last."
  }
}

const decodeErrorRef = "#/components/schemas/HttpApiDecodeError"

/**
 * Completes the generated document where the declaration cannot say it: the server reads bodies and
 * query strings itself, so its 400s are always Coder's body (never HttpApiDecodeError); the token sources
 * besides the header; what the path and query parameters accept.
 */
const completeDocument = (spec: Record<string, any>): Record<string, any> => {
  spec.info.version = "0.1.0"
  Object.assign(spec.components.securitySchemes, alternativeTokenSchemes)
  for (const path of Object.values<Record<string, any>>(spec.paths)) {
    for (const operation of Object.values<Record<string, any>>(path)) {
      const badRequest = operation.responses?.["400"]
      const anyOf = badRequest?.content?.["application/json"]?.schema?.anyOf
      if (Array.isArray(anyOf)) {
        const rest = anyOf.filter((schema: { $ref?: string }) => schema.$ref !== decodeErrorRef)
        badRequest.content["application/json"].schema = rest.length === 1 ? rest[0] : { anyOf: rest }
        badRequest.description = "BadRequest"
      }
      if (Array.isArray(operation.security)) {
        operation.security = [
          ...operation.security,
          ...Object.keys(alternativeTokenSchemes).map((name) => ({ [name]: [] }))
        ]
      }
      for (const parameter of operation.parameters ?? []) {
        const description = parameterDescriptions[parameter.name]
        if (description !== undefined) parameter.description = description
        if (parameter.name === "format") {
          parameter.required = true
          parameter.schema = { type: "string", enum: ["agentapi"] }
          parameter.description = "The snapshot format; only `agentapi` is supported."
        }
      }
    }
  }
  const schemas = spec.components.schemas
  if (!JSON.stringify(spec.paths).includes(decodeErrorRef)) {
    delete schemas.HttpApiDecodeError
    delete schemas.Issue
    delete schemas.PropertyKey
  }
  return spec
}

export class Api extends HttpApi.make("taskd")
  .add(HealthGroup)
  .add(UsersGroup)
  .add(TemplatesGroup)
  .add(TasksGroup)
  .add(ExperimentalTasksGroup)
  .add(AgentGroup)
  .add(AgentSnapshotsGroup)
  .addError(BadRequestResponse)
  .addError(UnauthorizedResponse)
  .addError(NotFoundResponse)
  .addError(InternalServerErrorResponse)
  .addError(ServiceUnavailableResponse)
  .annotate(OpenApi.Title, "taskd")
  .annotate(OpenApi.Description, "The Coder Tasks API: AI coding tasks and their conversation logs.")
  .annotate(OpenApi.Transform, completeDocument)
{}
