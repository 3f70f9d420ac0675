/**
 * The taskd HTTP API: Coder's Tasks API and the endpoints around it, declared once. Server, client,
 * OpenAPI document and tests are all derived from this declaration, which imports no server code.
 *
 * The server decodes exactly what is declared here: path parameters (`params`), query strings (`query`)
 * and JSON bodies (`payload`). What Coder does around decoding (the body cap, Go-style JSON reading, its
 * error bodies) and the checks Coder makes in middleware before a handler reads the body (authentication,
 * the owner check, resolving `{task}`, `{organization}`, `{template}`) are declared here as middleware, so a
 * host that mounts the groups gets the same behaviour. src/Http/ implements the edge middlewares, src/Auth/
 * the authentication, the feature folders the rest.
 *
 * Middleware order: the framework wraps an endpoint's middlewares in the order they were added to the
 * endpoint, the last one outermost (HttpApiBuilder applyMiddleware); a group's `.middleware` appends to the
 * endpoints it already has, so group middleware sits OUTSIDE endpoint middleware. Each endpoint with a body
 * adds CoderJsonBody first (innermost: it reads the body, right before the framework decodes it), then its
 * pre-body checks, innermost first; each group then adds its authentication and, outermost, CoderEdge
 * (Coder's bodies for every failure). A request therefore meets: CoderEdge, authentication, the endpoint's
 * checks (outermost first), the body.
 */
import * as Context from "effect/Context"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { completeDocument } from "./ApiDocument.ts"
import type { CurrentAgent, CurrentUploadTask, CurrentUser } from "./Domain/Actor.ts"
import { AppHealthRequest, AppStatusRequest, Manifest, ReportLifecycleRequest } from "./Domain/Agent.ts"
import { MessagesPayload } from "./Domain/AgentApi.ts"
import {
  BadGatewayResponse,
  BadRequestResponse,
  ConflictResponse,
  ForbiddenResponse,
  InternalServerErrorResponse,
  NotFoundResponse,
  ServiceUnavailableResponse,
  TooManyRequestsResponse,
  UnauthorizedResponse
} from "./Domain/CoderError.ts"
import { ConsoleSessionRequest } from "./Domain/Console.ts"
import {
  defaultMessagesLimit,
  maxMessagesLimit,
  MessagesPage,
  TasksStreamEvent,
  TaskStreamEvent
} from "./Domain/Conversation.ts"
import { AgentApiFormat, maxSnapshotBytes } from "./Domain/Snapshot.ts"
import {
  CreateTaskRequest,
  type CurrentTask,
  Task,
  TaskInputRequest,
  TaskLogsResponse,
  TasksListResponse,
  WorkspaceBuildResponse
} from "./Domain/Task.ts"
import {
  CreateTemplateRequest,
  CreateTemplateVersionRequest,
  type CurrentTemplate,
  Template,
  TemplateVersion
} from "./Domain/Template.ts"
import {
  CreateUserRequest,
  type CurrentOrganization,
  GenerateApiKeyResponse,
  GetUsersResponse,
  User
} from "./Domain/User.ts"
import {
  CreatedWebhook,
  CreateWebhookRequest,
  QueuedInput,
  QueueInputRequest,
  QueueResponse,
  WebhookDeliveriesResponse,
  WebhooksResponse
} from "./Domain/Webhook.ts"

// -----------------------------------------------------------------------------------------------------------
// Endpoint annotations read by the edge middlewares
// -----------------------------------------------------------------------------------------------------------

/**
 * The largest request body an endpoint accepts, in bytes. Without it an endpoint accepts the
 * `HttpIncomingMessage.MaxBodySize` in effect, or 1 MiB.
 */
export class MaxBodyBytes extends Context.Service<MaxBodyBytes, number>()("taskd/MaxBodyBytes") {}

/**
 * The `message` of the 400 an endpoint answers when its body cannot be read, parsed or decoded. Coder's
 * shared reader (`httpapi.Read`) says "Request body must be valid JSON."; the snapshot upload has its own.
 */
export const PayloadErrorMessage = Context.Reference<string>("taskd/PayloadErrorMessage", {
  defaultValue: () => "Request body must be valid JSON."
})

// -----------------------------------------------------------------------------------------------------------
// Middleware
// -----------------------------------------------------------------------------------------------------------

/**
 * Coder's bodies for every failure around a handler, on every group: a request that does not decode
 * (params, query, payload) is a 400, a defect a 500 (503 while the database is unreachable), an over-cap
 * body a 400 that closes the connection. Its errors are the statuses any endpoint may answer.
 */
export class CoderEdge extends HttpApiMiddleware.Service<CoderEdge>()("taskd/CoderEdge", {
  error: [BadRequestResponse, NotFoundResponse, InternalServerErrorResponse, ServiceUnavailableResponse]
}) {}

/**
 * Reads a declared JSON payload as Coder's handlers do (Go's `json.Decoder`): under the endpoint's byte cap
 * (chunked bodies included), the first JSON value only, nested at most 10,000 deep, keys matched to the
 * payload's fields case-insensitively, null fields left zero, whatever the Content-Type. The framework then
 * decodes the payload schema from the normalised JSON. Added first (innermost) on each endpoint that has a
 * payload, so authentication and the endpoint's checks run before a byte of the body is read.
 */
export class CoderJsonBody extends HttpApiMiddleware.Service<CoderJsonBody>()("taskd/CoderJsonBody", {
  error: BadRequestResponse
}) {}

/** Coder reads the token from a cookie, the query string, this header or a bearer token; the header is the usual one. */
const sessionToken = HttpApiSecurity.apiKey({ key: "Coder-Session-Token", in: "header" }).pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "A user API key `<10-char id>-<22-char secret>`. Also accepted as the `coder_session_token` cookie or query " +
      "parameter, or as `Authorization: Bearer <token>`."
  )
)

const agentToken = HttpApiSecurity.apiKey({ key: "Coder-Session-Token", in: "header" }).pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "The workspace agent token (a UUID).")
)

/** Authenticates a user by API key and provides `CurrentUser`. */
export class UserAuthentication
  extends HttpApiMiddleware.Service<UserAuthentication, { provides: CurrentUser }>()("taskd/UserAuthentication", {
    error: UnauthorizedResponse,
    security: { sessionToken }
  })
{}

/** Authenticates a workspace agent by its agent token and provides `CurrentAgent`. */
export class AgentAuthentication
  extends HttpApiMiddleware.Service<AgentAuthentication, { provides: CurrentAgent }>()("taskd/AgentAuthentication", {
    error: UnauthorizedResponse,
    security: { agentToken }
  })
{}

/**
 * The snapshot upload's checks before its body is read, in Coder's order (spec §7.3): the agent token
 * (401), the task id's format (400 "Invalid task ID format."), the `format` query parameter (400 "Invalid
 * query parameters." / "Invalid format parameter."), then the task: live and in the agent's workspace, or
 * the standard 404. It authenticates the agent itself (in place of AgentAuthentication) and provides
 * `CurrentAgent` and the checked task (`CurrentUploadTask`). Implemented in src/Snapshots/.
 */
export class SnapshotUploadGuard extends HttpApiMiddleware.Service<
  SnapshotUploadGuard,
  { provides: CurrentAgent | CurrentUploadTask }
>()("taskd/SnapshotUploadGuard", {
  error: [UnauthorizedResponse, BadRequestResponse, NotFoundResponse],
  security: { agentToken }
}) {}

/**
 * Owner-only endpoints: the standard 403 for a member, before the body is read (the owner check of
 * users.create, users.list, templates.create and templates.createVersion). Implemented in src/Users/.
 */
export class RequireOwner extends HttpApiMiddleware.Service<RequireOwner, { requires: CurrentUser }>()(
  "taskd/RequireOwner",
  { error: ForbiddenResponse }
) {}

/**
 * Resolves `{organization}` (its id or name) before the body is read and provides it as
 * `CurrentOrganization`; an unknown one is the 400 "Organization … does not exist.". Implemented in
 * src/Templates/.
 */
export class OrganizationParam
  extends HttpApiMiddleware.Service<OrganizationParam, { provides: CurrentOrganization }>()(
    "taskd/OrganizationParam",
    { error: BadRequestResponse }
  )
{}

/**
 * Resolves `{template}` (a template id) before the body is read and provides it as `CurrentTemplate`; an
 * unknown one is the standard 404. Implemented in src/Templates/.
 */
export class TemplateParam extends HttpApiMiddleware.Service<TemplateParam, { provides: CurrentTemplate }>()(
  "taskd/TemplateParam",
  { error: NotFoundResponse }
) {}

/**
 * Resolves `{user}/{task}` as Coder's ExtractTaskParam does (spec §2.2), for the signed-in user and before
 * any body is read: 400 for an empty `{task}` (or an empty or unknown `{user}` when the name lookup needs
 * it), the standard 404 for a task the caller cannot see. Provides the row as `CurrentTask`. Implemented in
 * src/Tasks/TaskParam.ts.
 */
export class TaskParam extends HttpApiMiddleware.Service<TaskParam, { requires: CurrentUser; provides: CurrentTask }>()(
  "taskd/TaskParam",
  { error: [BadRequestResponse, NotFoundResponse] }
) {}

// -----------------------------------------------------------------------------------------------------------
// Parameters
// -----------------------------------------------------------------------------------------------------------

/** A query parameter as a client may send it: once, or repeated. */
export const QueryParam = Schema.Union([Schema.String, Schema.Array(Schema.String)])

/** A query parameter read as Go's `Query().Get` reads it: the first value counts when it is repeated. */
export const FirstQueryParam = QueryParam.pipe(
  Schema.decodeTo(Schema.String, {
    decode: SchemaGetter.transform((value) => typeof value === "string" ? value : value[0] ?? ""),
    encode: SchemaGetter.transform((value: string) => value)
  })
)

const user = Schema.String.annotate({ description: "A user: its ID (UUID), its username, or `me`." })
const task = Schema.String.annotate({ description: "A task: its ID (UUID), or its name among the user's tasks." })
const userPath = { user }
const taskPath = { user, task }

// -----------------------------------------------------------------------------------------------------------
// Groups
// -----------------------------------------------------------------------------------------------------------

export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.post("create", "/users", {
      payload: CreateUserRequest,
      success: User.pipe(HttpApiSchema.status(201)),
      error: [ForbiddenResponse, ConflictResponse]
    })
      .middleware(CoderJsonBody)
      .middleware(RequireOwner),
    HttpApiEndpoint.get("list", "/users", { success: GetUsersResponse, error: ForbiddenResponse })
      .annotate(OpenApi.Description, "Every user, by username (owners only: it shows their email addresses).")
      .middleware(RequireOwner),
    HttpApiEndpoint.get("me", "/users/me", { success: User }),
    HttpApiEndpoint.post("createApiKey", "/users/:user/keys", {
      params: userPath,
      success: GenerateApiKeyResponse.pipe(HttpApiSchema.status(201)),
      error: ForbiddenResponse
    })
  )
  .middleware(UserAuthentication)
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Users")
{}

export class TemplatesGroup extends HttpApiGroup.make("templates")
  .add(
    HttpApiEndpoint.post("create", "/organizations/:organization/templates", {
      params: {
        organization: Schema.String.annotate({ description: "An organization: its ID (UUID) or its name (`default`)." })
      },
      payload: CreateTemplateRequest,
      success: Template.pipe(HttpApiSchema.status(201)),
      error: [ForbiddenResponse, ConflictResponse]
    })
      // Checked outermost first: the owner, then the organization, then the body.
      .middleware(CoderJsonBody)
      .middleware(OrganizationParam)
      .middleware(RequireOwner),
    HttpApiEndpoint.get("list", "/templates", { success: Schema.Array(Template) })
      .annotate(
        OpenApi.Description,
        "The templates of the caller's organizations (an owner's: all), by name; the active version is the " +
          "`template_version_id` a new task takes."
      ),
    HttpApiEndpoint.post("createVersion", "/templates/:template/versions", {
      params: { template: Schema.String.annotate({ description: "A template ID (UUID)." }) },
      payload: CreateTemplateVersionRequest,
      success: TemplateVersion.pipe(HttpApiSchema.status(201)),
      error: ForbiddenResponse
    })
      .middleware(CoderJsonBody)
      .middleware(TemplateParam)
      .middleware(RequireOwner)
  )
  .middleware(UserAuthentication)
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Templates")
{}

/**
 * The Tasks endpoints (spec §3). Coder serves them under /api/v2 and, for a transition period, under
 * /api/experimental as well; its SDKs use both, so taskd declares the same endpoints under each prefix.
 */
const tasksEndpoints = <const Name extends string>(name: Name) =>
  HttpApiGroup.make(name)
    .add(
      HttpApiEndpoint.get("list", "/tasks", {
        query: {
          q: Schema.optional(FirstQueryParam).annotate({
            description: "A search query of `key:value` terms: `owner:<username|me>`, `organization:<name|id>`, " +
              "`status:<status>`, or a bare word, taken as the owner."
          })
        },
        success: TasksListResponse
      }),
      HttpApiEndpoint.post("create", "/tasks/:user", {
        params: userPath,
        payload: CreateTaskRequest,
        success: Task.pipe(HttpApiSchema.status(201)),
        error: ConflictResponse
      }).middleware(CoderJsonBody),
      // `{user}/{task}` endpoints: the task resolves (TaskParam) before a body is read, as in Coder.
      HttpApiEndpoint.get("get", "/tasks/:user/:task", { params: taskPath, success: Task }).middleware(TaskParam),
      HttpApiEndpoint.delete("delete", "/tasks/:user/:task", {
        params: taskPath,
        success: HttpApiSchema.Accepted,
        error: [ForbiddenResponse, ConflictResponse]
      }).middleware(TaskParam),
      HttpApiEndpoint.patch("updateInput", "/tasks/:user/:task/input", {
        params: taskPath,
        payload: TaskInputRequest,
        success: HttpApiSchema.NoContent,
        error: ConflictResponse
      })
        .middleware(CoderJsonBody)
        .middleware(TaskParam),
      HttpApiEndpoint.post("send", "/tasks/:user/:task/send", {
        params: taskPath,
        payload: TaskInputRequest,
        success: HttpApiSchema.NoContent,
        error: [ConflictResponse, BadGatewayResponse]
      })
        .middleware(CoderJsonBody)
        .middleware(TaskParam),
      HttpApiEndpoint.get("logs", "/tasks/:user/:task/logs", {
        params: taskPath,
        success: TaskLogsResponse,
        error: [ConflictResponse, BadGatewayResponse]
      }).middleware(TaskParam),
      HttpApiEndpoint.post("pause", "/tasks/:user/:task/pause", {
        params: taskPath,
        success: WorkspaceBuildResponse.pipe(HttpApiSchema.status(202)),
        error: [ForbiddenResponse, ConflictResponse]
      }).middleware(TaskParam),
      HttpApiEndpoint.post("resume", "/tasks/:user/:task/resume", {
        params: taskPath,
        success: WorkspaceBuildResponse.pipe(HttpApiSchema.status(202)),
        error: [ForbiddenResponse, ConflictResponse]
      }).middleware(TaskParam)
    )
    .middleware(UserAuthentication)
    .middleware(CoderEdge)

export class TasksGroup extends tasksEndpoints("tasks").prefix("/api/v2").annotate(OpenApi.Title, "Tasks") {}

export class ExperimentalTasksGroup extends tasksEndpoints("experimentalTasks")
  .prefix("/api/experimental")
  .annotate(OpenApi.Title, "Tasks (experimental paths)")
  .annotate(OpenApi.Description, "The same endpoints under Coder's transitional /api/experimental prefix.")
{}

/** `Last-Event-ID`: the `id:` of the last event a reconnecting client received. */
const resumeHeaders = {
  "last-event-id": Schema.optional(Schema.String).annotate({
    description: "The `id:` of the last event received: the stream then gives what came after it, instead of " +
      "the current state."
  })
}

/**
 * taskd's own endpoints around a task's conversation (issue 12), not Coder's: the whole recorded history,
 * and the event streams. Same authentication, `{user}/{task}` resolution and 404s as `GET` of the task.
 */
export class ConversationsGroup extends HttpApiGroup.make("conversations")
  .add(
    HttpApiEndpoint.get("messages", "/tasks/:user/:task/messages", {
      params: taskPath,
      query: {
        after_id: Schema.optional(FirstQueryParam).annotate({
          description: "Only messages with a higher id (default 0: from the first)."
        }),
        limit: Schema.optional(FirstQueryParam).annotate({
          description: `How many messages at most, 1 to ${maxMessagesLimit} (default ${defaultMessagesLimit}).`
        })
      },
      success: MessagesPage
    })
      .middleware(TaskParam)
      .annotate(
        OpenApi.Description,
        "The task's whole conversation as taskd recorded it, oldest first, whatever the task's status. A message's " +
          "`id` is its position in the task's history (1, 2, 3...), stable across pauses, resumes and agent " +
          "restarts; `next_after_id` is there when more follow."
      ),
    HttpApiEndpoint.get("taskEvents", "/tasks/:user/:task/events", {
      params: taskPath,
      headers: resumeHeaders,
      success: HttpApiSchema.StreamSse({ events: TaskStreamEvent }),
      error: TooManyRequestsResponse
    })
      .middleware(TaskParam)
      .annotate(
        OpenApi.Description,
        "Server-sent events: the current state (one `task` event, an `agent` event when the agent's status is " +
          "known, then a `message` event per message), then live changes: `task` when its status or " +
          "current_state changes, `message` when a message appears or its text changes (same id), `agent` when " +
          "the agent's status changes; `task_deleted`, the last event, when the task is deleted. With " +
          "`Last-Event-ID`, every change after that event instead of the current state. A slow reader gets " +
          "`overflow` and is disconnected; it resumes with `Last-Event-ID`."
      ),
    HttpApiEndpoint.get("tasksEvents", "/tasks/events", {
      query: {
        q: Schema.optional(FirstQueryParam).annotate({ description: "A search query, as for the list of tasks." })
      },
      headers: resumeHeaders,
      success: HttpApiSchema.StreamSse({ events: TasksStreamEvent }),
      error: TooManyRequestsResponse
    }).annotate(
      OpenApi.Description,
      "Server-sent events for every task the caller may see that matches `q`: `task` when one is created or its " +
        "status or current_state changes, `task_deleted` when one is deleted."
    )
  )
  .middleware(UserAuthentication)
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Conversations")
{}

export class AgentSnapshotsGroup extends HttpApiGroup.make("agentSnapshots")
  .add(
    HttpApiEndpoint.post("postLogSnapshot", "/workspaceagents/me/tasks/:task/log-snapshot", {
      params: { task: Schema.String.annotate({ description: "The task's ID (UUID)." }) },
      query: {
        format: Schema.Literal(AgentApiFormat).annotate({
          description: "The snapshot format; only `agentapi` is supported."
        })
      },
      payload: MessagesPayload,
      success: HttpApiSchema.NoContent
    })
      .annotate(
        OpenApi.Description,
        "Stores the last messages of the task's agentapi conversation (at most 64 KiB), replacing any earlier " +
          "snapshot. Called by the workspace's shutdown script with the agent token."
      )
      .annotate(MaxBodyBytes, maxSnapshotBytes)
      .annotate(PayloadErrorMessage, "Failed to decode request payload.")
      // Endpoint middleware sits inside the group's: the guard runs before the body is read.
      .middleware(CoderJsonBody)
      .middleware(SnapshotUploadGuard)
  )
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Task log snapshots")
{}

export class AgentGroup extends HttpApiGroup.make("agent")
  .add(
    HttpApiEndpoint.get("manifest", "/workspaceagents/me/manifest", { success: Manifest }),
    HttpApiEndpoint.post("reportLifecycle", "/workspaceagents/me/report-lifecycle", {
      payload: ReportLifecycleRequest,
      success: HttpApiSchema.NoContent
    }).middleware(CoderJsonBody),
    HttpApiEndpoint.post("appHealth", "/workspaceagents/me/app-health", {
      payload: AppHealthRequest,
      success: HttpApiSchema.Empty(200)
    }).middleware(CoderJsonBody),
    HttpApiEndpoint.patch("appStatus", "/workspaceagents/me/app-status", {
      payload: AppStatusRequest,
      success: HttpApiSchema.Empty(200)
    }).middleware(CoderJsonBody)
  )
  .middleware(AgentAuthentication)
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Workspace agents")
{}

/** `{"status":"ok"}`: the body of a passing health check. */
export const HealthStatus = Schema.Struct({ status: Schema.Literal("ok") }).annotate({ identifier: "HealthStatus" })

/** Liveness and readiness probes for orchestrators and load balancers; no authentication. */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: HealthStatus })
      .annotate(OpenApi.Description, "200 while the process is alive and serving HTTP."),
    HttpApiEndpoint.get("readyz", "/readyz", { success: HealthStatus, error: ServiceUnavailableResponse })
      .annotate(
        OpenApi.Description,
        "200 when the database answers and the instance is not shutting down; 503 with Coder's error body from the moment its shutdown begins, or while the database does not answer."
      )
  )
  .middleware(CoderEdge)
  .annotate(OpenApi.Title, "Health")
{}

/**
 * The web console's sign-in and sign-out (src/Console/): the page cannot set an HttpOnly cookie itself, so
 * taskd checks the key with the same TokenAuth as every endpoint and sets (or clears) the
 * `coder_session_token` cookie. Nothing else about authentication changes: the API reads that cookie as
 * Coder does.
 */
export class ConsoleGroup extends HttpApiGroup.make("console")
  .add(
    HttpApiEndpoint.post("signIn", "/console/session", {
      payload: ConsoleSessionRequest,
      success: User,
      error: UnauthorizedResponse
    })
      .middleware(CoderJsonBody)
      .annotate(
        OpenApi.Description,
        "Checks an API key and answers the signed-in user, with the key set as the `coder_session_token` " +
          "cookie (HttpOnly, SameSite=Strict, Secure over https); 401 with Coder's body for a bad key."
      ),
    HttpApiEndpoint.delete("signOut", "/console/session", { success: HttpApiSchema.NoContent })
      .annotate(OpenApi.Description, "Clears the `coder_session_token` cookie.")
  )
  .middleware(CoderEdge)
  .annotate(OpenApi.Title, "Console session")
{}

/**
 * Webhooks (issue 15), taskd's own: a user's (their tasks' events) and, registered by an owner, an
 * organization's (every task of it). `{user}` resolves as for other user endpoints; a member manages only
 * their own. Implemented in src/Webhooks/.
 */
const webhookId = { webhook: Schema.String.annotate({ description: "A webhook's ID (UUID)." }) }
const organizationPath = {
  organization: Schema.String.annotate({ description: "An organization: its ID (UUID) or its name (`default`)." })
}

export class WebhooksGroup extends HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.post("create", "/users/:user/webhooks", {
      params: userPath,
      payload: CreateWebhookRequest,
      success: CreatedWebhook.pipe(HttpApiSchema.status(201)),
      error: ForbiddenResponse
    })
      .middleware(CoderJsonBody)
      .annotate(
        OpenApi.Description,
        "Registers a webhook for the user's tasks: `events` among task.created, task.status_changed, " +
          "task.needs_input, task.completed, task.failed, task.deleted. Answers `secret` only when taskd " +
          "generated it, and only this once. 400 with validations for an unknown event or a URL that is not " +
          "http(s) or points at a private address (see TASKD_WEBHOOK_ALLOW); 503 when there is no " +
          "TASKD_SECRET_KEY to keep the secret with."
      ),
    HttpApiEndpoint.get("list", "/users/:user/webhooks", {
      params: userPath,
      success: WebhooksResponse,
      error: ForbiddenResponse
    }).annotate(OpenApi.Description, "The user's webhooks, oldest first, without their secrets."),
    HttpApiEndpoint.delete("delete", "/users/:user/webhooks/:webhook", {
      params: { ...userPath, ...webhookId },
      success: HttpApiSchema.NoContent,
      error: ForbiddenResponse
    }),
    HttpApiEndpoint.get("deliveries", "/users/:user/webhooks/:webhook/deliveries", {
      params: { ...userPath, ...webhookId },
      success: WebhookDeliveriesResponse,
      error: ForbiddenResponse
    }).annotate(OpenApi.Description, "The webhook's latest 100 deliveries, newest first, with their outcomes."),
    HttpApiEndpoint.post("createForOrganization", "/organizations/:organization/webhooks", {
      params: organizationPath,
      payload: CreateWebhookRequest,
      success: CreatedWebhook.pipe(HttpApiSchema.status(201)),
      error: ForbiddenResponse
    })
      .middleware(CoderJsonBody)
      .middleware(OrganizationParam)
      .middleware(RequireOwner)
      .annotate(OpenApi.Description, "Registers a webhook for every task of the organization (owners only)."),
    HttpApiEndpoint.get("listForOrganization", "/organizations/:organization/webhooks", {
      params: organizationPath,
      success: WebhooksResponse,
      error: ForbiddenResponse
    })
      .middleware(OrganizationParam)
      .middleware(RequireOwner),
    HttpApiEndpoint.delete("deleteForOrganization", "/organizations/:organization/webhooks/:webhook", {
      params: { ...organizationPath, ...webhookId },
      success: HttpApiSchema.NoContent,
      error: ForbiddenResponse
    })
      .middleware(OrganizationParam)
      .middleware(RequireOwner),
    HttpApiEndpoint.get("deliveriesForOrganization", "/organizations/:organization/webhooks/:webhook/deliveries", {
      params: { ...organizationPath, ...webhookId },
      success: WebhookDeliveriesResponse,
      error: ForbiddenResponse
    })
      .middleware(OrganizationParam)
      .middleware(RequireOwner)
  )
  .middleware(UserAuthentication)
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Webhooks")
{}

/**
 * Queued input (issue 15): messages for the task's agent, delivered in order, one at a time, each when the
 * agent is stable. Same authentication, `{user}/{task}` resolution and 404s as `GET` of the task.
 */
export class QueueGroup extends HttpApiGroup.make("queue")
  .add(
    HttpApiEndpoint.post("enqueue", "/tasks/:user/:task/queue", {
      params: taskPath,
      payload: QueueInputRequest,
      success: QueuedInput.pipe(HttpApiSchema.status(202))
    })
      .middleware(CoderJsonBody)
      .middleware(TaskParam)
      .annotate(
        OpenApi.Description,
        "Queues a message (its surrounding whitespace trimmed, as agentapi wants it) for the task's agent: taskd " +
          "sends it when the agent is stable and every message queued before it was sent, exactly once. Pausing " +
          "keeps the queue; deleting the task drops it."
      ),
    HttpApiEndpoint.get("list", "/tasks/:user/:task/queue", { params: taskPath, success: QueueResponse })
      .middleware(TaskParam)
      .annotate(OpenApi.Description, "The messages not sent yet, in the order they will be sent."),
    HttpApiEndpoint.delete("cancel", "/tasks/:user/:task/queue/:id", {
      params: { ...taskPath, id: Schema.String.annotate({ description: "A queued message's ID (UUID)." }) },
      success: HttpApiSchema.NoContent,
      error: ConflictResponse
    })
      .middleware(TaskParam)
      .annotate(OpenApi.Description, "Cancels a message not sent yet; 409 once it was sent (or is being sent).")
  )
  .middleware(UserAuthentication)
  .middleware(CoderEdge)
  .prefix("/api/v2")
  .annotate(OpenApi.Title, "Queued input")
{}

export class Api extends HttpApi.make("taskd")
  .add(
    HealthGroup,
    UsersGroup,
    TemplatesGroup,
    TasksGroup,
    ExperimentalTasksGroup,
    ConversationsGroup,
    WebhooksGroup,
    QueueGroup,
    AgentGroup,
    AgentSnapshotsGroup,
    ConsoleGroup
  )
  .annotate(OpenApi.Title, "taskd")
  // Every problem of a body, each with the value it got: Coder's `detail` has always said "actual 5".
  .annotate(HttpApi.PayloadParseOptions, { errors: "all", reportInput: true })
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(OpenApi.Description, "The Coder Tasks API: AI coding tasks and their conversation logs.")
  .annotate(OpenApi.Transform, completeDocument)
{}
