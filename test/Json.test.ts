/**
 * The first JSON value of a body, as Go's decoder reads it: the native fast path (the whole body is one
 * value) and the scanner (trailing data, errors) must give the same answers.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import fc from "fast-check"
import { firstJsonValue, maxNestingDepth, parseJsonExact } from "../src/Domain/Json.ts"
import { assertProperty } from "./support/Property.ts"

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

describe("firstJsonValue", () => {
  it("reads one value, ignoring what follows it", () => {
    assert.deepStrictEqual(firstJsonValue(` {"a":[1,2]} \n`), Result.succeed({ a: [1, 2] }))
    assert.deepStrictEqual(firstJsonValue(`{"a":1} {"b":2}`), Result.succeed({ a: 1 }))
    assert.deepStrictEqual(firstJsonValue(`{"a":1}garbage`), Result.succeed({ a: 1 }))
    assert.deepStrictEqual(firstJsonValue(`12 34`), Result.succeed(12))
    assert.deepStrictEqual(firstJsonValue(`"x\\"y" z`), Result.succeed("x\"y"))
  })

  it("answers Go's errors", () => {
    assert.deepStrictEqual(firstJsonValue(""), Result.fail("EOF"))
    assert.deepStrictEqual(firstJsonValue(" \t\r\n"), Result.fail("EOF"))
    assert.deepStrictEqual(firstJsonValue(`{"a":`), Result.fail("unexpected EOF"))
    assert.isTrue(Result.isFailure(firstJsonValue(`{a:1}`)))
  })

  it("refuses nesting deeper than Go's limit, with or without trailing data", () => {
    assert.isTrue(Result.isSuccess(firstJsonValue(nested(maxNestingDepth))))
    assert.isTrue(Result.isSuccess(firstJsonValue(nested(maxNestingDepth) + " x")))
    assert.deepStrictEqual(firstJsonValue(nested(maxNestingDepth + 1)), Result.fail("exceeded max depth"))
    assert.deepStrictEqual(firstJsonValue(nested(maxNestingDepth + 1) + " x"), Result.fail("exceeded max depth"))
    const deepObject = `{"a":`.repeat(maxNestingDepth + 1) + "1" + "}".repeat(maxNestingDepth + 1)
    assert.deepStrictEqual(firstJsonValue(deepObject), Result.fail("exceeded max depth"))
  })

  it("gives the same value whether or not data follows it", () => {
    assertProperty(
      fc.property(fc.json(), fc.constantFrom(" ", "\n", " trailing", " {}", "\t[1"), (text, tail) => {
        const alone = firstJsonValue(text)
        assert.deepStrictEqual(alone, Result.succeed(parseJsonExact(text)))
        assert.deepStrictEqual(firstJsonValue(text + tail), alone)
      }),
      { numRuns: 300 }
    )
  })
})
