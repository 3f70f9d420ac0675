/**
 * What the commands that talk to a running taskd share: the `--url`/`--token`/`--json` flags (or
 * TASKD_URL/TASKD_TOKEN), the typed client derived from the HttpApi, and one way to print an answer and to
 * report a refusal.
 *
 * Exit codes: 0 when the server did what was asked; 1 when it refused (its message, and Coder's detail, on
 * stderr as `error: ...`) or could not be reached; 2 for a command line that does not parse (src/main.ts).
 */
import * as Flag from "effect/cli/Flag"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import type * as Redacted from "effect/Redacted"
import { type Client, makeClient } from "../Client.ts"
import { describeError, setExitCode } from "./Output.ts"

/** The connection flags; they may stand anywhere after the command's name, before or after its arguments. */
export const connection = {
  url: Flag.String("url").pipe(
    Flag.withDescription("taskd's base URL (TASKD_URL)."),
    Flag.withFallbackConfig(Config.String("TASKD_URL")),
    Flag.withDefault("http://127.0.0.1:8080")
  ),
  token: Flag.Redacted("token").pipe(
    Flag.withDescription("A session token (TASKD_TOKEN)."),
    Flag.withFallbackConfig(Config.Redacted("TASKD_TOKEN"))
  ),
  json: Flag.Boolean("json").pipe(Flag.withDescription("Print the response as JSON."), Flag.withDefault(false))
}

export interface Connection {
  readonly url: string
  readonly token: Redacted.Redacted<string>
  readonly json: boolean
}

/**
 * Runs `f` with a client and prints what it gave: `show(value)` as text (nothing when it is empty), or with
 * `--json` `json(value)` as indented JSON (nothing when it is undefined: an answer without a body). A
 * failure (a Coder error, a transport error) is one line on stderr and exit code 1.
 */
export const withClient = <A, E>(
  options: Connection,
  f: (client: Client) => Effect.Effect<A, E>,
  show: (value: A) => string,
  json: (value: A) => unknown = (value) => value
) =>
  Effect.gen(function*() {
    const client = yield* makeClient({ baseUrl: options.url, token: options.token })
    const value = yield* f(client)
    if (options.json) {
      const encoded = json(value)
      if (encoded !== undefined) yield* Console.log(JSON.stringify(encoded, null, 2))
    } else {
      const text = show(value)
      if (text !== "") yield* Console.log(text)
    }
  }).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.catch((error) => Effect.andThen(Console.error(`error: ${describeError(error)}`), setExitCode(1)))
  )
