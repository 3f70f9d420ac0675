/**
 * Coder's error body (`codersdk.Response`) and one error class per HTTP status that taskd answers with.
 *
 * In code each is a tagged error, so handlers can fail with it and tests can match on it; on the wire it is
 * exactly `{"message", "detail"?, "validations"?}` with no `_tag`, which is what Coder clients decode. Having
 * a single class per status keeps the derived client's decoding unambiguous.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

export class ValidationError extends Schema.Class<ValidationError>("ValidationError")({
  field: Schema.String,
  detail: Schema.String
}) {}

/** The JSON body of every Coder error response. */
export const CoderResponse = Schema.Struct({
  message: Schema.String,
  detail: Schema.optional(Schema.String),
  validations: Schema.optional(Schema.Array(ValidationError))
}).annotations({ identifier: "Response", description: "Coder's error body" })
export type CoderResponse = typeof CoderResponse.Type

const fields = CoderResponse.fields

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", fields) {}
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", fields) {}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", fields) {}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields) {}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", fields) {}
export class InternalServerError extends Schema.TaggedError<InternalServerError>()("InternalServerError", fields) {}
export class BadGateway extends Schema.TaggedError<BadGateway>()("BadGateway", fields) {}
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", fields) {}

/** Any of the errors above. */
export type CoderError =
  | BadRequest
  | Unauthorized
  | Forbidden
  | NotFound
  | Conflict
  | InternalServerError
  | BadGateway
  | ServiceUnavailable

/** Drops `_tag` and the empty optional fields, as Go's `omitempty` does. */
const toBody = (error: CoderResponse): CoderResponse => ({
  message: error.message,
  ...(error.detail !== undefined && error.detail !== "" ? { detail: error.detail } : {}),
  ...(error.validations !== undefined && error.validations.length > 0 ? { validations: error.validations } : {})
})

/** The wire schema of an error class: Coder's body on the wire, the class in code, and its status. */
const onTheWire = <A extends CoderResponse, I, R>(
  errorClass: Schema.Schema<A, I, R> & { new(body: CoderResponse): A },
  status: number
) =>
  Schema.transform(CoderResponse, Schema.typeSchema(errorClass), {
    strict: true,
    decode: (body) => new errorClass(body),
    encode: toBody
  }).annotations(HttpApiSchema.annotations({ status }))

export const BadRequestResponse = onTheWire(BadRequest, 400)
export const UnauthorizedResponse = onTheWire(Unauthorized, 401)
export const ForbiddenResponse = onTheWire(Forbidden, 403)
export const NotFoundResponse = onTheWire(NotFound, 404)
export const ConflictResponse = onTheWire(Conflict, 409)
export const InternalServerErrorResponse = onTheWire(InternalServerError, 500)
export const BadGatewayResponse = onTheWire(BadGateway, 502)
export const ServiceUnavailableResponse = onTheWire(ServiceUnavailable, 503)

/** The body Coder uses for both "does not exist" and "no permission", so existence is not leaked. */
export const resourceNotFound = (): NotFound =>
  new NotFound({ message: "Resource not found or you do not have access to this resource" })
