/**
 * Names for tasks created without one: Coder's offline fallback (spec §3.2 step 6), a slug of the prompt
 * with a random 4-hex suffix, and a display name cut from the prompt.
 */
import { randomInt } from "node:crypto"

const suffix = () => randomInt(0, 0x10000).toString(16).padStart(4, "0")

/** Cuts `text` to at most `max` characters on a word boundary, optionally ending with an ellipsis. */
export const truncateWords = (text: string, max: number, ellipsis: boolean): string => {
  const chars = [...text]
  if (chars.length <= max) return text
  let cut = chars.slice(0, ellipsis ? max - 1 : max).join("")
  const space = cut.lastIndexOf(" ")
  if (space > 0) cut = cut.slice(0, space)
  return cut.trimEnd() + (ellipsis ? "…" : "")
}

const slug = (prompt: string): string =>
  truncateWords(prompt.trim(), 27, false)
    .toLowerCase()
    .replace(/\s+/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")

const capitalize = (text: string) => text === "" ? text : text[0]!.toUpperCase() + text.slice(1)

const adjectives = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lively", "merry", "nimble"]
const nouns = ["otter", "falcon", "badger", "heron", "lynx", "marten", "osprey", "panda", "raven", "tapir", "wombat"]

const randomWords = () =>
  `${adjectives[randomInt(0, adjectives.length)]}-${nouns[randomInt(0, nouns.length)]}`.slice(0, 27)

export interface GeneratedName {
  readonly name: string
  readonly displayName: string
}

/** A task name (a valid Coder name) and a display name for `prompt`. */
export const generateTaskName = (prompt: string): GeneratedName => {
  const base = slug(prompt)
  if (base !== "") {
    return {
      name: `${base}-${suffix()}`,
      displayName: capitalize(truncateWords(prompt.trim().replace(/\s+/g, " "), 64, true).trim())
    }
  }
  const words = randomWords()
  return { name: `${words}-${suffix()}`, displayName: capitalize(words.replaceAll("-", " ")) }
}
