/**
 * Plain-text tables and key/value blocks for the client commands' default output: columns padded to their
 * widest cell, two spaces apart, no colour and no box drawing, so the output reads the same in a terminal,
 * a pipe or a log file (`--json` is for programs).
 */

/** Display width of a line: one column per code point (taskd's own values are ASCII; names are too). */
const widthOf = (text: string): number => [...text].length

const padEnd = (text: string, width: number): string => text + " ".repeat(Math.max(0, width - widthOf(text)))

/** The lines of a cell: a value with newlines (a message, a log entry) spans several lines of its row. */
const linesOf = (cell: string): ReadonlyArray<string> => cell.replace(/\r\n?/g, "\n").split("\n")

/**
 * `rows` under `headers` (upper-cased as given), each column as wide as its widest line; trailing spaces
 * are trimmed. A row whose cells have several lines takes as many lines, the other cells blank below
 * their first.
 */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const cells = [headers.map((header) => [header]), ...rows.map((row) => row.map(linesOf))]
  const widths = headers.map((_, column) =>
    Math.max(...cells.map((row) => Math.max(0, ...(row[column] ?? [""]).map(widthOf))))
  )
  const last = headers.length - 1
  return cells.flatMap((row) => {
    const height = Math.max(1, ...row.map((lines) => lines.length))
    return Array.from({ length: height }, (_, line) =>
      headers.map((_, column) => {
        const text = row[column]?.[line] ?? ""
        return column === last ? text : padEnd(text, widths[column]!)
      }).join("  ").trimEnd())
  }).join("\n")
}

/** `label: value` lines with the values aligned; a value with newlines continues under its first line. */
export const details = (pairs: ReadonlyArray<readonly [label: string, value: string]>): string => {
  const width = Math.max(0, ...pairs.map(([label]) => widthOf(label) + 1))
  return pairs.flatMap(([label, value]) =>
    linesOf(value).map((line, index) => `${padEnd(index === 0 ? `${label}:` : "", width)}  ${line}`.trimEnd())
  ).join("\n")
}

/** A time to the second, in UTC: `2025-09-25 10:42:48Z`. */
export const shortTime = (date: Date): string => date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")
