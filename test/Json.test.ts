/**
 * The first JSON value of a body, as Go's decoder reads it: the native fast path (the whole body is one
 * value) and the scanner (trailing data, errors) must give the same answers.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import { firstJsonValue, maxNestingDepth } from "../src/Http/Json.ts"

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

describe("firstJsonValue", () => {
  it("reads one value, ignoring what follows it", () => {
    assert.deepStrictEqual(firstJsonValue(` {"a":[1,2]} \n`), Either.right({ a: [1, 2] }))
    assert.deepStrictEqual(firstJsonValue(`{"a":1} {"b":2}`), Either.right({ a: 1 }))
    assert.deepStrictEqual(firstJsonValue(`{"a":1}garbage`), Either.right({ a: 1 }))
    assert.deepStrictEqual(firstJsonValue(`12 34`), Either.right(12))
    assert.deepStrictEqual(firstJsonValue(`"x\\"y" z`), Either.right("x\"y"))
  })

  it("answers Go's errors", () => {
    assert.deepStrictEqual(firstJsonValue(""), Either.left("EOF"))
    assert.deepStrictEqual(firstJsonValue(" \t\r\n"), Either.left("EOF"))
    assert.deepStrictEqual(firstJsonValue(`{"a":`), Either.left("unexpected EOF"))
    assert.isTrue(Either.isLeft(firstJsonValue(`{a:1}`)))
  })

  it("refuses nesting deeper than Go's limit, with or without trailing data", () => {
    assert.isTrue(Either.isRight(firstJsonValue(nested(maxNestingDepth))))
    assert.isTrue(Either.isRight(firstJsonValue(nested(maxNestingDepth) + " x")))
    assert.deepStrictEqual(firstJsonValue(nested(maxNestingDepth + 1)), Either.left("exceeded max depth"))
    assert.deepStrictEqual(firstJsonValue(nested(maxNestingDepth + 1) + " x"), Either.left("exceeded max depth"))
    const deepObject = `{"a":`.repeat(maxNestingDepth + 1) + "1" + "}".repeat(maxNestingDepth + 1)
    assert.deepStrictEqual(firstJsonValue(deepObject), Either.left("exceeded max depth"))
  })

  it("gives the same value whether or not data follows it", () => {
    fc.assert(
      fc.property(fc.json(), fc.constantFrom(" ", "\n", " trailing", " {}", "\t[1"), (text, tail) => {
        const alone = firstJsonValue(text)
        assert.deepStrictEqual(alone, Either.right(JSON.parse(text)))
        assert.deepStrictEqual(firstJsonValue(text + tail), alone)
      }),
      { numRuns: 300 }
    )
  })
})
