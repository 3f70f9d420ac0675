/**
 * Coder's `NameValid`: the rule for usernames, template names, workspace names and task names.
 */
const namePattern = /^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$/

/** Why `name` is not a valid Coder name, or undefined when it is. */
export const nameInvalidReason = (name: string): string | undefined => {
  const bytes = Buffer.byteLength(name, "utf8")
  if (bytes > 32) return "must be <= 32 characters"
  if (bytes < 1) return "must be >= 1 character"
  if (name === "new" || name === "create") return `cannot use "${name}" as a name`
  if (!namePattern.test(name)) return "must be alphanumeric with hyphens"
  return undefined
}
