/**
 * Handlers of the console's sign-in and sign-out (src/Api.ts ConsoleGroup). Signing in checks the key
 * with the TokenAuth that guards every endpoint (a host's own, when it replaces taskd's) and keeps it as
 * the `coder_session_token` cookie: HttpOnly (the page's scripts never read it back), SameSite=Strict (no
 * other site's page can make the browser send it), Secure when the request came over https.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Headers from "effect/http/Headers"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import { Api } from "../Api.ts"
import { TokenAuth } from "../Auth/TokenAuth.ts"
import { sessionCookieName } from "../Domain/Console.ts"
import { UserRepo } from "../Users/UserRepo.ts"

/** An API key lives 30 days; the cookie may as well (the key's own expiry is what counts). */
const cookieMaxAge = Duration.days(30)

/** https as the client saw it: the request's own protocol, or the proxy's `X-Forwarded-Proto`. */
const overHttps = (request: HttpServerRequest.HttpServerRequest) =>
  request.protocol === "https" || /^https\b/i.test(request.headers["x-forwarded-proto"] ?? "")

const cookieOptions = (request: HttpServerRequest.HttpServerRequest) => ({
  httpOnly: true,
  sameSite: "strict" as const,
  secure: overHttps(request),
  path: "/"
})

export const ConsoleHandlers = HttpApiBuilder.group(
  Api,
  "console",
  Effect.fn(function*(handlers) {
    const auth = yield* TokenAuth
    const users = yield* UserRepo

    const signIn = Effect.fn("Console.signIn")(
      function*({ payload }: { readonly payload: { readonly token: string } }) {
        const request = yield* HttpServerRequest.HttpServerRequest
        // The typed key alone: not a cookie the browser still has, not the query string.
        const asKey = request.modify({
          url: "/",
          headers: Headers.fromInput({ "coder-session-token": payload.token.trim() })
        })
        const actor = yield* auth.authenticateUser(asKey)
        const user = yield* users.findById(actor.id)
        if (user === undefined) return yield* Effect.die(new Error("authenticated user has no row"))
        const options = { ...cookieOptions(request), maxAge: cookieMaxAge }
        yield* HttpEffect.appendPreResponseHandler((_request, response) =>
          Effect.orDie(HttpServerResponse.setCookie(response, sessionCookieName, payload.token.trim(), options))
        )
        return user
      }
    )

    const signOut = Effect.fn("Console.signOut")(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      yield* HttpEffect.appendPreResponseHandler((_request, response) =>
        Effect.orDie(HttpServerResponse.expireCookie(response, sessionCookieName, cookieOptions(request)))
      )
    })

    return handlers.handle("signIn", signIn).handle("signOut", signOut)
  })
).pipe(Layer.provide(UserRepo.layer))
