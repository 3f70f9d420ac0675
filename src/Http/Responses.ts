/**
 * Coder's stock response bodies, shared by the handlers.
 */
import { BadRequest, Forbidden, ValidationError } from "../Domain/CoderError.ts"
import type { BodyInvalid, BodyNotJson, BodyReadFailed, BodyTooLarge } from "./Body.ts"

export const forbidden = () =>
  new Forbidden({
    message: "Forbidden.",
    detail: "You don't have permission to view this content. If you believe this is a mistake, please contact " +
      "your administrator or try signing in with different credentials."
  })

/** `httpapi.Read`'s answer to a body it cannot use. */
export const invalidJson = (error: BodyTooLarge | BodyReadFailed | BodyNotJson | BodyInvalid) =>
  new BadRequest({ message: "Request body must be valid JSON.", detail: error.message })

export const validationFailed = (validations: ReadonlyArray<{ field: string; detail: string }>) =>
  new BadRequest({
    message: "Validation failed.",
    validations: validations.map((v) => new ValidationError(v))
  })
