/**
 * The embedded default database: PGlite, served on a loopback socket so that @effect/sql-pg talks to it
 * over the wire protocol, exactly as it talks to a real Postgres. One SQL code path serves both.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdirSync } from "node:fs"

export class EmbeddedDatabaseError extends Data.TaggedError("EmbeddedDatabaseError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const isMemory = (dataDir: string) => dataDir.startsWith("memory://")

/**
 * PGlite is single-session: every socket connection shares one backend, so two connections would
 * interleave their transactions. The pool therefore has exactly one connection.
 */
const embeddedPoolSize = 1

/** Opens PGlite on `dataDir` and serves it on 127.0.0.1 (a free port); closes both when the scope ends. */
export const serveEmbedded = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        if (!isMemory(dataDir)) mkdirSync(dataDir, { recursive: true })
        const db = await PGlite.create(dataDir)
        const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: embeddedPoolSize })
        await server.start()
        const [host, port] = server.getServerConn().split(":")
        return { db, server, host: host!, port: Number(port) }
      },
      catch: (cause) =>
        new EmbeddedDatabaseError({
          message: isMemory(dataDir)
            ? `Could not start the embedded database: ${String(cause)}`
            : `Could not open the embedded database in ${dataDir}. Only one process can use it at a time; ` +
              `stop the other taskd using it, or set DATABASE_URL. (${String(cause)})`,
          cause
        })
    }),
    ({ db, server }) =>
      Effect.promise(async () => {
        await server.stop()
        await db.close()
      })
  )

/** An SqlClient (and PgClient) backed by an embedded PGlite in `dataDir` (`memory://` keeps nothing). */
export const layer = (dataDir: string) =>
  Layer.unwrapScoped(Effect.map(serveEmbedded(dataDir), ({ host, port }) =>
    PgClient.layer({
      host,
      port,
      username: "postgres",
      database: "postgres",
      maxConnections: embeddedPoolSize,
      applicationName: "taskd"
    })))
