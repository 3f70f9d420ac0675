/**
 * Where webhooks may point: http(s) URLs whose host is not a private, loopback, link-local or otherwise
 * special address, unless `TASKD_WEBHOOK_ALLOW` allows it (a comma-separated list of host names, addresses
 * and CIDR ranges, e.g. `127.0.0.1/8,hooks.internal`). Checked when a webhook is registered (its literal
 * address, or what its name resolves to now) and again before each delivery, after resolving the name.
 *
 * The check before a delivery resolves the name itself, then the request resolves it again: a name whose
 * answers change between the two (DNS rebinding) is not caught. The allow-list is the control for
 * deliberate internal destinations.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { lookup } from "node:dns/promises"
import { BlockList, isIP } from "node:net"

export interface AllowList {
  readonly hosts: ReadonlySet<string>
  readonly addresses: BlockList
  /** The list as configured, for messages. */
  readonly text: string
}

/** Parses `TASKD_WEBHOOK_ALLOW`; an entry that is no address or range is taken as a host name. */
export const parseAllowList = (text: string): AllowList => {
  const hosts = new Set<string>()
  const addresses = new BlockList()
  for (const raw of text.split(",")) {
    const entry = raw.trim().toLowerCase()
    if (entry === "") continue
    const slash = entry.indexOf("/")
    const address = slash === -1 ? entry : entry.slice(0, slash)
    const family = isIP(address)
    if (family === 0) {
      hosts.add(entry.replace(/^\[|\]$/g, ""))
    } else if (slash === -1) {
      addresses.addAddress(address, family === 4 ? "ipv4" : "ipv6")
    } else {
      addresses.addSubnet(address, Number(entry.slice(slash + 1)), family === 4 ? "ipv4" : "ipv6")
    }
  }
  return { hosts, addresses, text }
}

export const AllowConfig = Config.String("TASKD_WEBHOOK_ALLOW").pipe(
  Config.withDefault(""),
  Config.map(parseAllowList)
)

/** Loopback, private, link-local, shared, multicast and reserved ranges. */
const special = (() => {
  const list = new BlockList()
  for (
    const [address, prefix] of [
      ["0.0.0.0", 8],
      ["10.0.0.0", 8],
      ["100.64.0.0", 10],
      ["127.0.0.0", 8],
      ["169.254.0.0", 16],
      ["172.16.0.0", 12],
      ["192.0.0.0", 24],
      ["192.0.2.0", 24],
      ["192.168.0.0", 16],
      ["198.18.0.0", 15],
      ["198.51.100.0", 24],
      ["203.0.113.0", 24],
      ["224.0.0.0", 4],
      ["240.0.0.0", 4]
    ] as const
  ) list.addSubnet(address, prefix, "ipv4")
  for (
    const [address, prefix] of [
      ["::", 128],
      ["::1", 128],
      ["64:ff9b::", 96],
      ["100::", 64],
      ["2001:db8::", 32],
      ["fc00::", 7],
      ["fe80::", 10],
      ["ff00::", 8]
    ] as const
  ) list.addSubnet(address, prefix, "ipv6")
  return list
})()

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as its IPv4 address. */
const unmapped = (address: string): string => {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return match === null ? address : match[1]!
}

const familyOf = (address: string) => isIP(address) === 4 ? "ipv4" as const : "ipv6" as const

/** Whether an address may be delivered to. */
export const addressAllowed = (address: string, allow: AllowList): boolean => {
  const plain = unmapped(address)
  const family = familyOf(plain)
  if (allow.addresses.check(plain, family)) return true
  return !special.check(plain, family)
}

/** What is wrong with a URL before resolving it, or undefined. */
export const urlProblem = (text: string, allow: AllowList): string | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return "must be an absolute http or https URL"
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http or https URL"
  if (url.username !== "" || url.password !== "") return "must not carry credentials"
  const host = hostOf(url)
  if (allow.hosts.has(host)) return undefined
  if (isIP(host) !== 0) return addressAllowed(host, allow) ? undefined : refused(host, allow)
  if (host === "localhost" || host.endsWith(".localhost")) return refused(host, allow)
  return undefined
}

/** The URL's host, lower case, without an IPv6 literal's brackets. */
export const hostOf = (url: URL) => url.hostname.toLowerCase().replace(/^\[|\]$/g, "")

const refused = (what: string, allow: AllowList) =>
  `${what} is a private, loopback or reserved address; allow it with TASKD_WEBHOOK_ALLOW` +
  (allow.text === "" ? "" : ` (now ${JSON.stringify(allow.text)})`)

/**
 * Resolves the URL's host name and checks every address it has; answers a problem or undefined. A name
 * that does not resolve is a problem only when `unresolvable` says so (at registration a name may not
 * resolve yet; before a delivery it must).
 */
export const resolvedProblem = (
  text: string,
  allow: AllowList,
  options: { readonly unresolvable: boolean }
): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    const first = urlProblem(text, allow)
    if (first !== undefined) return first
    const host = hostOf(new URL(text))
    if (allow.hosts.has(host) || isIP(host) !== 0) return undefined
    const resolved = yield* Effect.tryPromise(() => lookup(host, { all: true, verbatim: true })).pipe(
      Effect.timeout("5 seconds"),
      Effect.option
    )
    if (resolved._tag === "None") return options.unresolvable ? `${host} does not resolve` : undefined
    const bad = resolved.value.find((entry) => !addressAllowed(entry.address, allow))
    return bad === undefined ? undefined : refused(`${host} (${bad.address})`, allow)
  })
