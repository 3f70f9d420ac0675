/**
 * The web console's sign-in (`POST /console/session`): the API key a person typed, which taskd checks and
 * keeps as the `coder_session_token` cookie (HttpOnly, so the page's scripts never hold it afterwards).
 */
import * as Schema from "effect/Schema"

export const ConsoleSessionRequest = Schema.Struct({
  token: Schema.String.annotate({ description: "A user API key `<10-char id>-<22-char secret>`." })
}).annotate({ identifier: "ConsoleSessionRequest" })
export type ConsoleSessionRequest = typeof ConsoleSessionRequest.Type

/** The cookie taskd reads the session token from (src/Auth/TokenAuth.ts), as Coder does. */
export const sessionCookieName = "coder_session_token"
