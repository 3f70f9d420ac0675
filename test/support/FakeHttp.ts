/**
 * A throwaway HTTP server on a real socket (127.0.0.1, port 0) that records every request it gets,
 * byte for byte, and answers with whatever the test says: a fake agentapi, a fake upload endpoint.
 * (A port nothing listens on: Net.freePort.)
 */
import * as Effect from "effect/Effect"
import * as http from "node:http"

export interface RecordedRequest {
  readonly method: string
  /** The path without the query string. */
  readonly path: string
  /** The raw query string, without "?". */
  readonly query: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

/** Answers one request; leaving `response` alone means never answering. */
export type Handler = (request: RecordedRequest, response: http.ServerResponse) => void

export interface FakeServer {
  readonly url: string
  readonly port: number
  readonly requests: ReadonlyArray<RecordedRequest>
}

/** A server for the life of the scope. */
export const fakeServer = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; fake: FakeServer }>((resume) => {
      const requests: Array<RecordedRequest> = []
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const url = new URL(req.url ?? "/", "http://fake")
          const recorded: RecordedRequest = {
            method: req.method ?? "",
            path: url.pathname,
            query: url.search.replace(/^\?/, ""),
            headers: req.headers,
            body: Buffer.concat(chunks)
          }
          requests.push(recorded)
          handler(recorded, res)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port
        resume(Effect.succeed({ server, fake: { url: `http://127.0.0.1:${port}`, port, requests } }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ fake }) => fake))

/** Answers every request with `status` and a JSON (or raw text) body. */
export const respond =
  (status: number, body?: unknown, options: { readonly raw?: boolean } = {}): Handler => (_, res) => {
    if (body === undefined) {
      res.writeHead(status)
      res.end()
      return
    }
    const text = options.raw === true ? String(body) : JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json" })
    res.end(text)
  }

/** Never answers. */
export const silent: Handler = () => {}
