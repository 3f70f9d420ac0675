/**
 * Coder's error body (`codersdk.Response`) and one error class per HTTP status that taskd answers with.
 *
 * In code each is a tagged error carrying its status (`httpApiStatus`), so handlers can fail with it and
 * tests can match on it; on the wire it is exactly `{"message", "detail"?, "validations"?}` with no `_tag`,
 * which is what Coder clients decode. The `...Response` schemas are what the API declares: the body on the
 * wire, the class in code, and the status. A single class per status keeps the client's decoding unambiguous.
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

export class ValidationError extends Schema.Class<ValidationError>("ValidationError")({
  field: Schema.String,
  detail: Schema.String
}) {}

/** The JSON body of every Coder error response. */
export const CoderResponse = Schema.Struct({
  message: Schema.String,
  detail: Schema.optionalKey(Schema.String),
  validations: Schema.optionalKey(Schema.Array(ValidationError))
}).annotate({ identifier: "Response", description: "Coder's error body" })
export type CoderResponse = typeof CoderResponse.Type

const fields = CoderResponse.fields

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", fields, { httpApiStatus: 400 }) {}
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", fields, { httpApiStatus: 401 }) {}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", fields, { httpApiStatus: 403 }) {}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields, { httpApiStatus: 404 }) {}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", fields, { httpApiStatus: 409 }) {}
/** Too many of something at once (taskd: open event streams per user, TASKD_MAX_STREAMS_PER_USER). */
export class TooManyRequests
  extends Schema.TaggedError<TooManyRequests>()("TooManyRequests", fields, { httpApiStatus: 429 })
{}
export class InternalServerError
  extends Schema.TaggedError<InternalServerError>()("InternalServerError", fields, { httpApiStatus: 500 })
{}
export class BadGateway extends Schema.TaggedError<BadGateway>()("BadGateway", fields, { httpApiStatus: 502 }) {}
export class ServiceUnavailable
  extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", fields, { httpApiStatus: 503 })
{}

/** Any of the errors above. */
export type CoderError =
  | BadRequest
  | Unauthorized
  | Forbidden
  | NotFound
  | Conflict
  | TooManyRequests
  | InternalServerError
  | BadGateway
  | ServiceUnavailable

/** Drops `_tag` and the empty optional fields, as Go's `omitempty` does. */
export const toBody = (error: CoderResponse): CoderResponse => ({
  message: error.message,
  ...(error.detail !== undefined && error.detail !== "" ? { detail: error.detail } : {}),
  ...(error.validations !== undefined && error.validations.length > 0 ? { validations: error.validations } : {})
})

/** The wire schema of an error class: Coder's body on the wire, the class in code, and its status. */
const onTheWire = <Self extends CoderResponse>(
  errorClass: Schema.Codec<Self, any, never, never> & { new(body: CoderResponse): Self },
  status: number
) =>
  CoderResponse.pipe(
    Schema.decodeTo(
      Schema.toType(errorClass),
      SchemaTransformation.transform<Self, CoderResponse>({
        decode: (body) => new errorClass(body),
        encode: toBody
      })
    )
  ).annotate({ httpApiStatus: status })

export const BadRequestResponse = onTheWire(BadRequest, 400)
export const UnauthorizedResponse = onTheWire(Unauthorized, 401)
export const ForbiddenResponse = onTheWire(Forbidden, 403)
export const NotFoundResponse = onTheWire(NotFound, 404)
export const ConflictResponse = onTheWire(Conflict, 409)
export const TooManyRequestsResponse = onTheWire(TooManyRequests, 429)
export const InternalServerErrorResponse = onTheWire(InternalServerError, 500)
export const BadGatewayResponse = onTheWire(BadGateway, 502)
export const ServiceUnavailableResponse = onTheWire(ServiceUnavailable, 503)

/** The body Coder uses for both "does not exist" and "no permission", so existence is not leaked. */
export const resourceNotFound = (): NotFound =>
  new NotFound({ message: "Resource not found or you do not have access to this resource" })

/** Coder's 403 for an action the caller's role does not allow. */
export const forbidden = () =>
  new Forbidden({
    message: "Forbidden.",
    detail: "You don't have permission to view this content. If you believe this is a mistake, please contact " +
      "your administrator or try signing in with different credentials."
  })

/** Coder's 400 listing the fields that failed validation. */
export const validationFailed = (validations: ReadonlyArray<{ field: string; detail: string }>) =>
  new BadRequest({
    message: "Validation failed.",
    validations: validations.map((v) => new ValidationError(v))
  })
