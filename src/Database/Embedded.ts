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
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs"
import * as Path from "node:path"

export class EmbeddedDatabaseError extends Data.TaggedError("EmbeddedDatabaseError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const isMemory = (dataDir: string) => dataDir.startsWith("memory://")

/**
 * PGlite is single-session: every socket connection shares one backend, so two connections would
 * interleave their transactions (`portal "" does not exist`). The client's pool therefore has exactly
 * one connection.
 */
const embeddedPoolSize = 1

/**
 * The socket server admits far more connections than the client's one, because the client opens others
 * beside it. A statement interrupted while PGlite runs it (an HTTP client that went away) makes the client
 * send a CancelRequest on a side connection, which pglite-socket swallows without closing it: the client
 * closes it itself after 5 s, and holds the interrupted statement's connection open until then. PGlite
 * never confirms the cancel, so the client retires that connection and opens a replacement at once. With
 * room for only one extra connection, the socket server closed every replacement as it arrived (logged as
 * `PgConnection: Connection closed during startup`), and every request failed with a 503 for those 5 s,
 * again after each cancel. The socket is on 127.0.0.1 and a free port; only this process connects to it.
 */
const socketConnections = 64

const inUse = (dataDir: string, detail: string) =>
  new EmbeddedDatabaseError({
    message: `Could not open the embedded database in ${dataDir}: it is in use by another process (${detail}). ` +
      `Only one process can use it at a time; stop the other taskd using it, or set DATABASE_URL.`
  })

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

/**
 * PGlite itself does not notice a second process opening its data directory (both would write to it),
 * so taskd keeps a lock file holding the owner's pid. A lock left by a process that is gone is taken over.
 */
const lockDataDir = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        mkdirSync(dataDir, { recursive: true })
        const lockFile = Path.join(dataDir, "taskd.lock")
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            const fd = openSync(lockFile, "wx")
            writeSync(fd, String(process.pid))
            closeSync(fd)
            return lockFile
          } catch (error) {
            if ((error as { code?: string }).code !== "EEXIST") throw error
            const pid = Number.parseInt(readFileSync(lockFile, "utf8"), 10)
            if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw inUse(dataDir, `pid ${pid}`)
            unlinkSync(lockFile)
          }
        }
        throw inUse(dataDir, "its lock file keeps coming back")
      },
      catch: (cause) =>
        cause instanceof EmbeddedDatabaseError ? cause : new EmbeddedDatabaseError({
          message: `Could not lock the embedded database in ${dataDir}: ${String(cause)}`,
          cause
        })
    }),
    (lockFile) => Effect.ignore(Effect.try(() => unlinkSync(lockFile)))
  )

/** Opens PGlite on `dataDir` and serves it on 127.0.0.1 (a free port); closes both when the scope ends. */
export const serveEmbedded = (dataDir: string) =>
  Effect.andThen(isMemory(dataDir) ? Effect.void : lockDataDir(dataDir), openAndServe(dataDir))

/**
 * PGlite's Postgres lives in the server's own memory, and its 128 MB of shared buffers (initdb's default)
 * fill up under uploads: every upsert of a snapshot writes new TOAST pages. 32 MB holds a database of
 * 10,000 tasks (26 MB with its indexes); what does not fit is read from the data directory's files
 * through the OS page cache. Measured on upload-60k: peak RSS 440-480 MiB with 128 MB, 350-390 with 32.
 */
const startParams = [...PGlite.defaultStartParams, "-c", "shared_buffers=32MB"]

const openAndServe = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        if (!isMemory(dataDir)) mkdirSync(dataDir, { recursive: true })
        const db = await PGlite.create(dataDir, { startParams })
        const server = new PGLiteSocketServer({
          db,
          host: "127.0.0.1",
          port: 0,
          maxConnections: socketConnections
        })
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

/** The client of the socket server at `host`:`port` that `serveEmbedded` started. */
export const clientLayer = (host: string, port: number) =>
  PgClient.layer({
    host,
    port,
    username: "postgres",
    database: "postgres",
    maxConnections: embeddedPoolSize,
    // The one connection stays open (a pool of fixed size retires nothing for idleness): every
    // connection the socket server sees shares PGlite's one session, so a connection reopened after an
    // idle spell would leave its predecessor's prepared statements behind in it.
    minConnections: embeddedPoolSize,
    applicationName: "taskd"
  })

/** An SqlClient (and PgClient) backed by an embedded PGlite in `dataDir` (`memory://` keeps nothing). */
export const layer = (dataDir: string) =>
  Layer.unwrap(Effect.map(serveEmbedded(dataDir), ({ host, port }) => clientLayer(host, port)))
