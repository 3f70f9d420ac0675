/**
 * Struct field helpers for Go's JSON habits, in Effect 4's terms (Effect 3's `optionalWith` options).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"

/** Go's `omitempty`: a key that is left out when empty, never written as null or undefined. */
export const omitEmpty = <S extends Schema.Top>(schema: S): Schema.optionalKey<S> => Schema.optionalKey(schema)

/**
 * A key that may be absent or undefined on the wire and decodes to `value()` then (Go's zero value);
 * encoding writes the value (Effect 3's `optionalWith(s, { default })`).
 */
export const withDefault = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  value: () => S["Encoded"]
) => schema.pipe(Schema.withDecodingDefault(Effect.sync(value)))

/**
 * An exact optional key that may also be null on the wire (Go's nil pointer): null decodes to an absent
 * key; encoding writes the value or leaves the key out (Effect 3's `optionalWith(s, { nullable, exact })`).
 * `schema` decodes first (all its issues reported), then null becomes "absent".
 */
export const optionalNullableKey = <S extends Schema.Top>(schema: S) =>
  Schema.optionalKey(Schema.NullOr(schema)).pipe(
    Schema.decodeTo(Schema.optionalKey(Schema.toType(schema)), {
      decode: SchemaGetter.transformOptional(Option.filter((value) => value !== null)),
      encode: SchemaGetter.passthroughSubtype()
    })
  )

/**
 * A key that may be absent, undefined or null on the wire and decodes to `value()` then (Go's zero
 * value); encoding writes the value (Effect 3's `optionalWith(s, { nullable: true, default })`).
 */
export const nullableWithDefault = <S extends Schema.Top>(schema: S, value: () => S["Type"]) =>
  Schema.optional(Schema.NullOr(schema)).pipe(
    Schema.decodeTo(Schema.toType(schema), {
      decode: SchemaGetter.transformOptional((input) =>
        Option.some(Option.getOrElse(Option.filter(input, (v) => v !== null && v !== undefined), value))
      ),
      encode: SchemaGetter.passthroughSubtype()
    })
  )
