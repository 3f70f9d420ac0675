/**
 * Prometheus's text exposition format (0.0.4), parsed strictly for the metrics tests: every line is a
 * comment, a `# TYPE`, or a sample `name{label="value",...} value [timestamp]` whose family was typed
 * before it; label values are unescaped. Anything else throws.
 */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  /** `# TYPE` of each family. */
  readonly types: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const parseValue = (text: string): number => {
  if (text === "+Inf") return Infinity
  if (text === "-Inf") return -Infinity
  if (text === "NaN") return NaN
  const value = Number(text)
  if (text === "" || Number.isNaN(value)) throw new Error(`not a sample value: ${JSON.stringify(text)}`)
  return value
}

/** `{a="x",b="y\"z"}` from `start` (at `{`): the labels and the index after `}`. */
const parseLabels = (line: string, start: number): [Record<string, string>, number] => {
  const labels: Record<string, string> = {}
  let i = start + 1
  while (line[i] !== "}") {
    const eq = line.indexOf("=", i)
    const name = line.slice(i, eq)
    if (!labelName.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in ${line}`)
    if (line[eq + 1] !== "\"") throw new Error(`unquoted label value in ${line}`)
    let value = ""
    let j = eq + 2
    for (; line[j] !== "\""; j++) {
      if (j >= line.length) throw new Error(`unterminated label value in ${line}`)
      if (line[j] === "\\") {
        const escaped = line[++j]
        value += escaped === "n" ? "\n" : escaped
      } else {
        value += line[j]
      }
    }
    if (name in labels) throw new Error(`label ${name} twice in ${line}`)
    labels[name] = value
    i = j + 1
    if (line[i] === ",") i++
    else if (line[i] !== "}") throw new Error(`expected , or } in ${line}`)
  }
  return [labels, i + 1]
}

/** The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own. */
const familyOf = (name: string, types: ReadonlyMap<string, string>) => {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length)
    if (name.endsWith(suffix) && types.get(base) === "histogram") return base
  }
  return name
}

/** Parses Prometheus's text format (0.0.4); throws on anything malformed. */
export const parseExposition = (text: string): Exposition => {
  if (!text.endsWith("\n")) throw new Error("the exposition does not end with a newline")
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice("# TYPE ".length).split(" ")
      if (!metricName.test(name!)) throw new Error(`bad metric name in ${line}`)
      if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(type!)) throw new Error(`bad type: ${line}`)
      if (types.has(name!)) throw new Error(`${name} typed twice`)
      types.set(name!, type!)
      continue
    }
    if (line.startsWith("#")) continue
    const nameEnd = line.search(/[{ ]/)
    const name = line.slice(0, nameEnd)
    if (!metricName.test(name)) throw new Error(`bad metric name in ${line}`)
    const [labels, valueStart] = line[nameEnd] === "{" ? parseLabels(line, nameEnd) : [{}, nameEnd]
    if (line[valueStart] !== " ") throw new Error(`expected a space before the value in ${line}`)
    const [value, timestamp, ...rest] = line.slice(valueStart + 1).split(" ")
    if (rest.length > 0 || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) throw new Error(`bad: ${line}`)
    if (!types.has(familyOf(name, types))) throw new Error(`${name} has no # TYPE before its samples`)
    samples.push({ name, labels, value: parseValue(value!) })
  }
  return { types, samples }
}

const sameLabels = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) => {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key])
}

/** The value of the series `name{labels}` (exactly those labels); 0 when it does not exist yet. */
export const valueOf = (exposition: Exposition, name: string, labels: Record<string, string> = {}) => {
  const found = exposition.samples.filter((sample) => sample.name === name && sameLabels(sample.labels, labels))
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} appears ${found.length} times`)
  return found[0]?.value ?? 0
}

/** Whether the series exists. */
export const has = (exposition: Exposition, name: string, labels: Record<string, string> = {}) =>
  exposition.samples.some((sample) => sample.name === name && sameLabels(sample.labels, labels))

/** How much `name{labels}` moved from `before` to `after`. */
export const delta = (before: Exposition, after: Exposition, name: string, labels: Record<string, string> = {}) =>
  valueOf(after, name, labels) - valueOf(before, name, labels)

/** Every label value of every sample. */
export const labelValues = (exposition: Exposition) =>
  exposition.samples.flatMap((sample) => Object.values(sample.labels))
