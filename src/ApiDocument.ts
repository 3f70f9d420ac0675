/**
 * What the OpenAPI document needs that the declaration in Api.ts cannot say; applied as the Api's
 * `OpenApi.Transform` annotation, so every document derived from the declaration has it. A pure function of
 * the JSON document: it imports no server code.
 *
 * - TokenAuth reads the same token from four more places than the declared header (a security scheme names
 *   one place, and declaring five schemes would make the server authenticate up to five times);
 * - a parameter's description belongs to the parameter, where Swagger UI shows it, not only to its schema.
 */

/** Every other place TokenAuth reads the same token from, in Coder's order, as alternatives to the header. */
export const alternativeTokenSchemes: Record<string, Record<string, unknown>> = {
  sessionTokenCookie: {
    type: "apiKey",
    in: "cookie",
    name: "coder_session_token",
    description: "The same token (a user API key, or an agent token on agent endpoints) as a cookie; read first."
  },
  sessionTokenQuery: {
    type: "apiKey",
    in: "query",
    name: "coder_session_token",
    description: "The same token as a query parameter; read after the cookie."
  },
  bearerToken: {
    type: "http",
    scheme: "bearer",
    description: "The same token as `Authorization: Bearer <token>`; read after the `Coder-Session-Token` header."
  },
  accessTokenQuery: {
    type: "apiKey",
    in: "query",
    name: "access_token",
    description: "The same token as the `access_token` query parameter; read last."
  }
}

/** Completes the document derived from the declaration (mutates and returns it). */
export const completeDocument = (spec: Record<string, any>): Record<string, any> => {
  spec.components.securitySchemes = { ...spec.components.securitySchemes, ...alternativeTokenSchemes }
  for (const path of Object.values<Record<string, any>>(spec.paths)) {
    for (const operation of Object.values<Record<string, any>>(path)) {
      if (Array.isArray(operation.security) && operation.security.length > 0) {
        operation.security = [
          ...operation.security,
          ...Object.keys(alternativeTokenSchemes).map((name) => ({ [name]: [] }))
        ]
      }
      for (const parameter of operation.parameters ?? []) {
        const description = parameter.schema?.description
        if (parameter.description === undefined && typeof description === "string") {
          parameter.description = description
        }
      }
    }
  }
  return spec
}
