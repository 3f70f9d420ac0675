/**
 * Checks real responses against the OpenAPI document taskd serves: the status must be declared for the
 * operation, and a JSON body must validate against the declared schema (JSON Schema 2020-12, component
 * refs resolved); a response declared without content must have an empty body.
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

export const makeChecker = (document: Document) => {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  ajv.addSchema({ $id: componentsId, $defs: rewriteRefs(document.components.schemas) })
  const compiled = new Map<string, ValidateFunction>()
  const checked: Array<Checked> = []

  /** Validates `response` as an answer of `method path` (the document's path template); throws on a mismatch. */
  const check = (method: string, path: string, response: Pick<RawResponse, "status" | "text" | "json">) => {
    const operation = document.paths[path]?.[method.toLowerCase()]
    if (operation === undefined) throw new Error(`the document has no ${method} ${path}`)
    const declared = operation.responses[String(response.status)]
    if (declared === undefined) {
      throw new Error(
        `${method} ${path} answered ${response.status}, which the document does not declare: ${response.text}`
      )
    }
    const schema = declared.content?.["application/json"]?.schema
    if (schema === undefined) {
      if (response.text !== "") {
        throw new Error(`${method} ${path} ${response.status} declares no body: ${response.text}`)
      }
    } else {
      const key = `${method} ${path} ${response.status}`
      let validate = compiled.get(key)
      if (validate === undefined) {
        validate = ajv.compile(rewriteRefs(schema))
        compiled.set(key, validate)
      }
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
