/**
 * What every command shares: one line for an error, the process exit code a command chose, and the
 * teardown that keeps that code when the program ends.
 */
import * as Cause from "effect/Cause"
import * as CliError from "effect/cli/CliError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Runtime from "effect/Runtime"

/**
 * An error as one readable line (without the `error: ` prefix): its message, Coder's detail in
 * parentheses, and each validation on its own indented line.
 */
export const describeError = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error) {
    const detail = "detail" in error && typeof error.detail === "string" && error.detail !== ""
      ? ` (${error.detail})`
      : ""
    const validations = "validations" in error && Array.isArray(error.validations)
      ? error.validations.map((v: { field: string; detail: string }) => `\n  ${v.field}: ${v.detail}`).join("")
      : ""
    return `${String(error.message)}${detail}${validations}`
  }
  return String(error)
}

/** Sets the code the process exits with once the command is done. */
export const setExitCode = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

/**
 * A command line that does not parse (an unknown flag, a missing argument, no subcommand) exits 2, as usage
 * errors do: the CLI shows the help with the problem and fails with `ShowHelp`. `--help` itself succeeds.
 */
export const exitCodeOfUsageError = (error: unknown) =>
  CliError.isCliError(error) && error._tag === "ShowHelp" ? setExitCode(2) : Effect.void

const currentExitCode = () => typeof process.exitCode === "number" ? process.exitCode : Number(process.exitCode ?? 0)

/**
 * The teardown for NodeRuntime.runMain: the exit code a command set, also when it was interrupted (a
 * signal); a failure the command did not handle exits 1 unless the command chose another code.
 */
export const teardown: Runtime.Teardown = <E, A>(exit: Exit.Exit<E, A>, onExit: (code: number) => void) => {
  const set = currentExitCode()
  if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) onExit(set === 0 ? 1 : set)
  else onExit(set)
}
