/**
 * Go's `strconv.Quote` (what `fmt`'s `%q` writes for a string), which Coder uses to quote user input in its
 * validation texts: `"` and `\` escaped, C escapes for \a \b \f \n \r \t \v, other control characters as
 * `\xNN`, printable Unicode kept, anything else not printable as `\uNNNN` / `\UNNNNNNNN`.
 */
const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u

const named: Readonly<Record<string, string>> = {
  "\"": "\\\"",
  "\\": "\\\\",
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v"
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

export const goQuote = (text: string): string => {
  let out = "\""
  // A lone surrogate is what Go would have read as invalid UTF-8: U+FFFD (printable).
  for (const char of text.toWellFormed()) {
    const escape = named[char]
    if (escape !== undefined) {
      out += escape
      continue
    }
    const code = char.codePointAt(0)!
    if (printable.test(char)) out += char
    else if (code < 0x80) out += `\\x${hex(code, 2)}`
    else if (code < 0x10000) out += `\\u${hex(code, 4)}`
    else out += `\\U${hex(code, 8)}`
  }
  return out + "\""
}
