/**
 * Webhook secrets at rest, and the signature of a delivery.
 *
 * taskd must sign with the secret, so it keeps the secret itself, encrypted with AES-256-GCM under
 * `TASKD_SECRET_KEY`: 32 bytes, written as 64 hex digits or as base64 (`openssl rand -base64 32`). Without
 * it, the embedded database's instance generates a key into its data directory (`<TASKD_DATA_DIR>/
 * secret.key`, mode 0600) on first use, and an in-memory database keeps one for the life of the process.
 * On Postgres (`DATABASE_URL`) there is no such place shared by every instance: without the key, creating
 * a webhook is refused (503, saying how to set it) and deliveries wait.
 *
 * The signature: `Taskd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed by the
 * secret's UTF-8 bytes.
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as Path from "node:path"

/** No key to encrypt or decrypt secrets with; `message` says how to set one. */
export class SecretKeyUnavailable extends Data.TaggedError("SecretKeyUnavailable")<{ readonly message: string }> {}

export interface Sealed {
  /** The ciphertext with the 16-byte GCM tag appended. */
  readonly ciphertext: Uint8Array
  readonly nonce: Uint8Array
}

export const SecretsConfig = Config.all({
  key: Config.option(Config.Redacted("TASKD_SECRET_KEY")),
  databaseUrl: Config.option(Config.String("DATABASE_URL")),
  dataDir: Config.String("TASKD_DATA_DIR").pipe(Config.withDefault("./.taskd"))
})

const howToSet = "Set TASKD_SECRET_KEY to 32 random bytes, base64 or hex (e.g. `openssl rand -base64 32`), the same " +
  "on every instance."

/** 32 bytes from 64 hex digits or base64; undefined for anything else. */
export const parseKey = (text: string): Uint8Array | undefined => {
  const trimmed = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, "hex")
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, "base64")
    if (bytes.length === 32) return bytes
  }
  return undefined
}

/** The data directory's key: read, or created (exclusively, so two processes cannot write different ones). */
const dataDirKey = (dataDir: string): Uint8Array => {
  const file = Path.join(dataDir, "secret.key")
  try {
    const key = parseKey(readFileSync(file, "utf8"))
    if (key === undefined) throw new Error(`${file} does not hold a 32-byte key`)
    return key
  } catch (error) {
    if ((error as { code?: unknown }).code !== "ENOENT") throw error
  }
  mkdirSync(dataDir, { recursive: true })
  try {
    writeFileSync(file, randomBytes(32).toString("base64") + "\n", { flag: "wx", mode: 0o600 })
    chmodSync(file, 0o600)
  } catch (error) {
    if ((error as { code?: unknown }).code !== "EEXIST") throw error
  }
  return dataDirKey(dataDir)
}

export const hmacHex = (secret: string, text: string) => createHmac("sha256", secret).update(text).digest("hex")

/** The `Taskd-Signature` header of `body` sent at `unixSeconds`. */
export const signature = (secret: string, unixSeconds: number, body: string) =>
  `t=${unixSeconds},v1=${hmacHex(secret, `${unixSeconds}.${body}`)}`

/** A secret taskd generates: 32 random bytes as hex, prefixed so that people recognise it. */
export const generateSecret = () => `whsec_${randomBytes(32).toString("hex")}`

export class WebhookSecrets extends Context.Service<WebhookSecrets, {
  readonly seal: (secret: string) => Effect.Effect<Sealed, SecretKeyUnavailable>
  readonly open: (sealed: Sealed) => Effect.Effect<string, SecretKeyUnavailable>
}>()("taskd/WebhookSecrets") {
  static readonly layer = Layer.effect(
    WebhookSecrets,
    Effect.gen(function*() {
      const config = yield* SecretsConfig
      // Resolved on first use: a taskd that never sees a webhook never writes a key file.
      const key = yield* Effect.cached(Effect.suspend((): Effect.Effect<Uint8Array, SecretKeyUnavailable> => {
        if (Option.isSome(config.key)) {
          const parsed = parseKey(Redacted.value(config.key.value))
          return parsed === undefined
            ? Effect.fail(new SecretKeyUnavailable({ message: `TASKD_SECRET_KEY is not a 32-byte key. ${howToSet}` }))
            : Effect.succeed(parsed)
        }
        if (Option.isSome(config.databaseUrl)) {
          return Effect.fail(
            new SecretKeyUnavailable({ message: `Webhooks need a key to encrypt their secrets with. ${howToSet}` })
          )
        }
        if (config.dataDir.startsWith("memory://")) return Effect.succeed(randomBytes(32))
        return Effect.try({
          try: () => dataDirKey(config.dataDir),
          catch: (error) =>
            new SecretKeyUnavailable({
              message: `Could not read or create ${Path.join(config.dataDir, "secret.key")}: ${
                String(error)
              }. ${howToSet}`
            })
        })
      }))

      const seal = (secret: string) =>
        Effect.map(key, (k): Sealed => {
          const nonce = randomBytes(12)
          const cipher = createCipheriv("aes-256-gcm", k, nonce)
          const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final(), cipher.getAuthTag()])
          return { ciphertext, nonce }
        })

      const open = (sealed: Sealed) =>
        Effect.flatMap(key, (k) =>
          Effect.try({
            try: () => {
              const data = Buffer.from(sealed.ciphertext)
              const decipher = createDecipheriv("aes-256-gcm", k, sealed.nonce)
              decipher.setAuthTag(data.subarray(data.length - 16))
              return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString(
                "utf8"
              )
            },
            catch: () =>
              new SecretKeyUnavailable({
                message:
                  `A webhook secret does not decrypt with this TASKD_SECRET_KEY (was the key changed?). ${howToSet}`
              })
          }))

      return WebhookSecrets.of({ seal, open })
    })
  )
}
