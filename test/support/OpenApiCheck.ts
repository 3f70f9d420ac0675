/**
 * Checks real responses against the OpenAPI document taskd serves: the status must be declared for the
 * operation, and a JSON body must validate against the declared schema (JSON Schema 2020-12, component
 * refs resolved); an event stream (`text/event-stream`) must carry that Content-Type, and each complete
 * event received (`{ id, event, data }`) must validate against the schema declared for the stream, its
 * `data` (JSON text, `contentMediaType`) against the event's `contentSchema`; a response declared without
 * content must have an empty body.
 */
import addFormatsModule from "ajv-formats"
import { Ajv2020 } from "ajv/dist/2020.js"
import type { ValidateFunction } from "ajv/dist/2020.js"
import type { RawResponse } from "./Http.ts"

// ajv-formats is CommonJS; its default export arrives wrapped under some loaders.
const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (ajv: Ajv2020) => void

type Document = Record<string, any>

const componentsId = "https://taskd.invalid/components.json"

/** Points every component ref at the one schema that holds the components as $defs. */
const rewriteRefs = (value: unknown): any =>
  JSON.parse(JSON.stringify(value).replaceAll(`"#/components/schemas/`, `"${componentsId}#/$defs/`))

export interface Checked {
  readonly operation: string
  readonly status: number
}

export interface SseEvent {
  readonly id?: string
  readonly event: string
  readonly data: string
}

/**
 * The complete events of an event stream's text (those followed by a blank line; comment lines skipped),
 * as `{ id?, event, data }`.
 */
export const sseEvents = (text: string): Array<SseEvent> =>
  text.replaceAll("\r\n", "\n").split("\n\n").slice(0, -1).flatMap((block) => {
    const fields: Record<string, string> = {}
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue
      const colon = line.indexOf(":")
      const name = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "")
      fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value
    }
    if (fields.data === undefined) return []
    return [{
      ...(fields.id === undefined ? {} : { id: fields.id }),
      event: fields.event ?? "message",
      data: fields.data
    }]
  })

export const makeChecker = (document: Document) => {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  ajv.addSchema({ $id: componentsId, $defs: rewriteRefs(document.components.schemas) })
  const compiled = new Map<string, ValidateFunction>()
  const checked: Array<Checked> = []

  const resolve = (schema: any): any =>
    typeof schema?.$ref === "string" && schema.$ref.startsWith("#/components/schemas/")
      ? resolve(document.components.schemas[schema.$ref.slice("#/components/schemas/".length)])
      : schema

  /** The `contentSchema` of the data of the stream's event `name`, when its data is declared as JSON text. */
  const dataSchema = (stream: unknown, name: string): unknown => {
    const declared = resolve(stream)
    for (const branch of declared?.anyOf ?? [declared]) {
      const event = resolve(branch)
      if (event?.properties?.event?.enum?.includes(name)) return resolve(event.properties.data)?.contentSchema
    }
    return undefined
  }

  /** Validates `response` as an answer of `method path` (the document's path template); throws on a mismatch. */
  const check = (
    method: string,
    path: string,
    response: Pick<RawResponse, "status" | "text" | "json"> & { readonly headers?: RawResponse["headers"] }
  ) => {
    const operation = document.paths[path]?.[method.toLowerCase()]
    if (operation === undefined) throw new Error(`the document has no ${method} ${path}`)
    const declared = operation.responses[String(response.status)]
    if (declared === undefined) {
      throw new Error(
        `${method} ${path} answered ${response.status}, which the document does not declare: ${response.text}`
      )
    }
    const key = `${method} ${path} ${response.status}`
    const validator = (schema: unknown, name = key) => {
      let validate = compiled.get(name)
      if (validate === undefined) {
        validate = ajv.compile(rewriteRefs(schema))
        compiled.set(name, validate)
      }
      return validate
    }
    const schema = declared.content?.["application/json"]?.schema
    const stream = declared.content?.["text/event-stream"]
    if (schema === undefined && stream !== undefined) {
      const contentType = response.headers?.["content-type"] ?? ""
      if (contentType.split(";")[0]!.trim() !== "text/event-stream") {
        throw new Error(`${key} declares text/event-stream, got content type "${contentType}"`)
      }
      if (stream.schema !== undefined) {
        const validate = validator(stream.schema)
        for (const event of sseEvents(response.text)) {
          if (!validate(event)) {
            throw new Error(
              `${key}: an event does not match the document: ${ajv.errorsText(validate.errors)}\n` +
                JSON.stringify(event)
            )
          }
          const content = dataSchema(stream.schema, event.event)
          if (content === undefined) continue
          const validateData = validator(content, `${key} ${event.event}`)
          if (!validateData(JSON.parse(event.data))) {
            throw new Error(
              `${key}: the data of an event "${event.event}" does not match the document: ` +
                `${ajv.errorsText(validateData.errors)}\n${event.data}`
            )
          }
        }
      }
    } else if (schema === undefined) {
      if (response.text !== "") {
        throw new Error(`${key} declares no body: ${response.text}`)
      }
    } else {
      const validate = validator(schema)
      if (response.json === undefined || !validate(response.json)) {
        throw new Error(
          `${key}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${response.text}`
        )
      }
    }
    checked.push({ operation: `${method.toUpperCase()} ${path}`, status: response.status })
  }

  /** Every operation of the document, as `METHOD path`. */
  const operations = (): Array<string> =>
    Object.entries<Record<string, unknown>>(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)
    )

  return { check, checked, operations }
}
