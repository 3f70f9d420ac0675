/**
 * taskd as a library: the Coder Tasks API declaration, its schemas and errors, the typed client, and
 * taskd itself as layers a host application mounts into its own `HttpRouter` (effect/http/HttpRouter),
 * or as a fetch-style `(Request) => Promise<Response>`, built from replaceable parts.
 *
 * ```ts
 * import * as Taskd from "taskd"
 * HttpRouter.serve(Layer.mergeAll(MyRoutes, Taskd.layer({ tokenAuth: MyAuth }))).pipe(
 *   Layer.provide(Taskd.migrated(MySqlClient)), ...)
 * ```
 *
 * Mounted anywhere, taskd behaves as the standalone server does: the 64 KiB body cap is enforced while the
 * body streams, JSON is read the way Coder's Go server reads it, errors are Coder's
 * `{"message","detail"?,"validations"?}` bodies, and every status is the same; all of that lives in the
 * middleware and codecs that travel with taskd's groups, not in server-level middleware.
 */

// The API declaration (groups, authentication middlewares) and the OpenAPI document derived from it.
export {
  AgentAuthentication,
  AgentGroup,
  AgentSnapshotsGroup,
  Api,
  ConsoleGroup,
  ConversationsGroup,
  ExperimentalTasksGroup,
  QueryParam,
  QueueGroup,
  TasksGroup,
  TemplatesGroup,
  UserAuthentication,
  UsersGroup,
  WebhooksGroup
} from "./Api.ts"

// Schemas, types and errors of the wire format.
export * from "./Domain/Actor.ts"
export * from "./Domain/Agent.ts"
export * from "./Domain/AgentApi.ts"
export * from "./Domain/CoderError.ts"
export * from "./Domain/Console.ts"
// The conversation endpoints' shapes. `AgentStatus` is agentapi's (the same literals) and `AgentEvent` is
// agentapi's own event (./Domain/AgentApi.ts): the event streams' `agent` event is `AgentSseEvent` here.
export {
  AgentEvent as AgentSseEvent,
  AgentStatusEvent,
  ConversationMessage,
  defaultMessagesLimit,
  keepAliveSeconds,
  maxMessageBytes,
  maxMessagesLimit,
  MessageEvent,
  MessagePosition,
  MessagesPage,
  OverflowEvent,
  OverflowSseEvent,
  TaskDeletedEvent,
  TaskDeletedSseEvent,
  TaskEvent,
  TasksStreamEvent,
  TaskStreamEvent,
  truncatedMarker
} from "./Domain/Conversation.ts"
// Message ids are int64s: a number while a safe integer, else a bigint; parseJsonExact reads JSON that way.
export { Int64, maxInt64, minInt64, type RawJson } from "./Domain/Int64.ts"
export { parseJsonExact } from "./Domain/Json.ts"
export * from "./Domain/Snapshot.ts"
export * from "./Domain/Task.ts"
export * from "./Domain/Template.ts"
export * from "./Domain/Time.ts"
export * from "./Domain/User.ts"
export * from "./Domain/Webhook.ts"

// The typed client.
export {
  type Client,
  type ClientOptions,
  type FollowedEvent,
  type FollowError,
  followTask,
  makeClient
} from "./Client.ts"

// taskd from parts: layers for a host's router, the docs, the web handler, the standalone server.
export {
  DefaultTokenAuth,
  docs,
  docsPath,
  Handlers,
  layer,
  NotFoundRoute,
  openApiDocument,
  openApiPath,
  type Parts,
  routes,
  serverLayer,
  services,
  type WebHandler,
  webHandler
} from "./Server.ts"

// `GET /metrics` and the request metrics: `webHandler` and the standalone server serve both; a host that
// mounts `layer` in its own router adds `metricsLayer` to it and `recordRequests` to its server middleware.
export { layer as metricsLayer, metricsPath, recordRequests } from "./Observability/MetricsRoute.ts"

// The web console (`GET /` and its assets): `taskd serve` mounts it; a host adds it to its router, or not.
export { consoleLayer, contentSecurityPolicy as consoleContentSecurityPolicy } from "./Console/Serve.ts"

// The replaceable parts and their defaults.
export {
  AgentApiClient,
  type AgentApiError,
  AgentApiInvalidUrl,
  AgentApiRequestError,
  AgentApiUnsupportedScheme,
  layer as defaultAgentApiClient,
  layerWith as agentApiClientWith,
  type Timeouts as AgentApiTimeouts
} from "./AgentApi/AgentApiClient.ts"
export { requestToken, TokenAuth } from "./Auth/TokenAuth.ts"
export { layer as defaultProvisioner } from "./Provisioner/Default.ts"
export { layer as instantProvisioner } from "./Provisioner/Instant.ts"
export { layer as localProcessProvisioner, type LocalProcessOptions } from "./Provisioner/LocalProcess.ts"
export { Provisioner, ProvisionFailed, type WorkspaceSpec } from "./Provisioner/Provisioner.ts"
export { ensureUser, type EnsureUserOptions } from "./Users/Ensure.ts"
export { UserRepo } from "./Users/UserRepo.ts"
// The recorded conversations (what `GET .../messages` and the event streams read), for a host's own views.
export { ConversationRepo } from "./Conversations/ConversationRepo.ts"

// The database: a real Postgres, the embedded PGlite, the environment's choice, migrations, bootstrap.
export {
  DatabaseConfig,
  fromConfig as databaseFromConfig,
  migrated,
  postgres as postgresDatabase
} from "./Database/Database.ts"
export { EmbeddedDatabaseError, layer as embeddedDatabase } from "./Database/Embedded.ts"
export { loadMigrations, migrate, type Migration, migrationsDir } from "./Database/Migrations.ts"
export { bootstrap, type BootstrapResult } from "./Users/Bootstrap.ts"

// Snapshots: the import/export library (what `taskd snapshots import/export` run) and the agent's uploader.
export {
  defaultAgentApiPort,
  defaultFetchTimeout,
  defaultPostTimeout,
  snapshotUrl,
  type UploadOptions,
  UploadOutcome,
  uploadSnapshot
} from "./AgentApi/Uploader.ts"
export * from "./Snapshots/Backfill.ts"
