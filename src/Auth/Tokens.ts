/**
 * Coder's token formats. A user API key is `<10-char id>-<22-char secret>`; an agent token is a UUID.
 * Only SHA-256 hashes of secrets are stored, and compared in constant time.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto"

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/** A random alphanumeric string, without modulo bias. */
const randomString = (length: number): string => {
  let out = ""
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += alphabet[byte % 62]
    }
  }
  return out
}

export const hashSecret = (secret: string): Buffer => createHash("sha256").update(secret).digest()

export const sameHash = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && timingSafeEqual(a, b)

export interface ApiKeyParts {
  readonly id: string
  readonly secret: string
}

export const generateApiKey = (): ApiKeyParts & { readonly token: string } => {
  const id = randomString(10)
  const secret = randomString(22)
  return { id, secret, token: `${id}-${secret}` }
}

/** Splits an API key, or says why it is malformed in Coder's words. */
export const parseApiKey = (token: string): { readonly parts: ApiKeyParts } | { readonly error: string } => {
  const parts = token.split("-")
  if (parts.length !== 2) return { error: `incorrect amount of API key parts, expected 2 got ${parts.length}` }
  const [id, secret] = parts as [string, string]
  if (id.length !== 10) return { error: `invalid API key ID length, expected 10 got ${id.length}` }
  if (secret.length !== 22) return { error: `invalid API key secret length, expected 22 got ${secret.length}` }
  return { parts: { id, secret } }
}

export const generateAgentToken = (): string => randomUUID()
