/**
 * taskd on `Deno.serve`, through the fetch-style web handler (`deno task`-free: `deno run -A
 * scripts/deno-serve.ts`). Same environment as `taskd serve`: PORT, HOST, DATABASE_URL or TASKD_DATA_DIR,
 * TASKD_BOOTSTRAP_TOKEN. SIGTERM or SIGINT stops it cleanly.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Taskd from "../src/index.ts"

declare const Deno: {
  readonly env: { get(name: string): string | undefined }
  serve(
    options: { port: number; hostname: string; onListen?: (address: { port: number }) => void },
    handler: (request: Request) => Promise<Response>
  ): { shutdown(): Promise<void> }
  addSignalListener(signal: "SIGTERM" | "SIGINT", listener: () => void): void
  exit(code: number): never
}

/** The database the environment names, migrated, and bootstrapped on first start (the token printed once). */
const database = Layer.tap(Taskd.migrated(Taskd.databaseFromConfig), (context) =>
  Effect.provide(
    Effect.tap(Taskd.bootstrap, (result) =>
      Option.match(result.generatedToken, {
        onNone: () => Effect.void,
        onSome: (token) => Effect.sync(() => console.log(`Admin session token (shown only this once): ${token}`))
      })),
    context
  ))

const web = Taskd.webHandler(database)
// Build taskd now rather than on the first request, so that startup errors surface at once.
await web.handler(new Request("http://localhost/api/v2/openapi.json"))

const server = Deno.serve({
  port: Number(Deno.env.get("PORT") ?? "8080"),
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  onListen: ({ port }) => console.log(`Listening on http://127.0.0.1:${port}`)
}, web.handler)

const stop = async () => {
  await server.shutdown()
  await web.dispose()
  Deno.exit(0)
}
Deno.addSignalListener("SIGTERM", stop)
Deno.addSignalListener("SIGINT", stop)
