/**
 * The web console's page and assets (`consoleLayer`, for an `HttpRouter`): `GET /` is the page, and
 * `GET /console/assets/<name>-<hash>.<js|css>` its script and style sheet. The browser app
 * (src/Console/app/) is bundled by esbuild's API in memory, once per server, on the first request for it:
 * `npm start`, the tests and a host that mounts the layer all serve the same bundle with no build step of
 * their own, and a server nobody opens the console on never runs esbuild. The app's sources sit at the
 * same place relative to this module as to `npm start`'s bundle (dist/src/main.js), as sql/ does.
 *
 * Hashed assets are cached for good (`immutable`); the page is `no-cache` (revalidated each time, so a new
 * bundle is picked up at once). Every response carries a Content-Security-Policy that allows only taskd's
 * own origin: no inline script or style, nothing from a CDN, no framing.
 *
 * The console's sign-in endpoints are API endpoints (src/Api.ts ConsoleGroup, src/Console/Session.ts).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import { createHash } from "node:crypto"
import { fileURLToPath } from "node:url"

/** Where the browser app's entry point is, from src/Console/ and from dist/src/ alike. */
export const appEntry = fileURLToPath(new URL("../../src/Console/app/main.ts", import.meta.url))

export const assetsPath = "/console/assets"

/** Only taskd's own origin, for everything; no framing, no `<base>`, forms post only to taskd. */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join("; ")

const securityHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

interface Asset {
  readonly contentType: string
  readonly body: Uint8Array
}

export interface Bundle {
  /** By file name (`app-<hash>.js`). */
  readonly assets: ReadonlyMap<string, Asset>
  readonly page: string
  readonly pageEtag: string
}

const contentTypes: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8"
}

const page = (script: string, styles: string) =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskd</title>
<link rel="stylesheet" href="${assetsPath}/${styles}">
<script type="module" src="${assetsPath}/${script}"></script>
</head>
<body>
<noscript>The taskd console needs JavaScript. The API is at /api/v2 (documentation: /api/v2/docs).</noscript>
<div id="app"></div>
</body>
</html>
`

/** Bundles the browser app with esbuild (minified, hashed names) and writes the page that loads it. */
export const bundle: Effect.Effect<Bundle> = Effect.tryPromise(async () => {
  // Imported when first needed: a server that never serves the console never loads esbuild.
  const esbuild = await import("esbuild")
  const result = await esbuild.build({
    entryPoints: { app: appEntry },
    bundle: true,
    write: false,
    outdir: "/console",
    entryNames: "[name]-[hash]",
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    legalComments: "none",
    logLevel: "silent"
  })
  const assets = new Map<string, Asset>()
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf("/") + 1)
    const type = contentTypes[name.slice(name.lastIndexOf(".") + 1)]
    if (type !== undefined) assets.set(name, { contentType: type, body: file.contents })
  }
  const names = [...assets.keys()]
  const script = names.find((name) => name.endsWith(".js"))
  const styles = names.find((name) => name.endsWith(".css"))
  if (script === undefined || styles === undefined) throw new Error("the console bundle has no script or styles")
  const html = page(script, styles)
  return { assets, page: html, pageEtag: `"${createHash("sha256").update(html).digest("base64url").slice(0, 16)}"` }
}).pipe(Effect.orDie)

/**
 * The console's routes; the bundle is built on the first request and kept. Needs nothing: the console
 * talks to taskd only through the API, from the browser.
 */
export const consoleLayer: Layer.Layer<never, never, HttpRouter.HttpRouter> = Layer.unwrap(
  Effect.map(Effect.cached(bundle), (built) =>
    Layer.mergeAll(
      HttpRouter.add("GET", "/", (request) =>
        Effect.map(built, ({ page: html, pageEtag }) =>
          request.headers["if-none-match"] === pageEtag
            ? HttpServerResponse.empty({ status: 304, headers: { etag: pageEtag, ...securityHeaders } })
            : HttpServerResponse.text(html, {
              contentType: "text/html; charset=utf-8",
              headers: { "cache-control": "no-cache", etag: pageEtag, ...securityHeaders }
            }))),
      HttpRouter.add("GET", `${assetsPath}/:file`, (_request) =>
        Effect.gen(function*() {
          const { file } = yield* HttpRouter.params
          const asset = file === undefined ? undefined : (yield* built).assets.get(file)
          if (asset === undefined) {
            return HttpServerResponse.jsonUnsafe({ message: "Route not found." }, {
              status: 404,
              headers: securityHeaders
            })
          }
          return HttpServerResponse.uint8Array(asset.body, {
            contentType: asset.contentType,
            headers: { "cache-control": "public, max-age=31536000, immutable", ...securityHeaders }
          })
        }))
    ))
)
