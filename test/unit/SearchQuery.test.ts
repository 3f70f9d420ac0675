/**
 * Unit tier: the `q` grammar of `GET /api/v2/tasks` (spec §6), against a stub UserRepo that records
 * which lookups the parser makes. No database, no server.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ValidationError } from "../../src/Domain/CoderError.ts"
import { parseTaskSearch, tokenize } from "../../src/Tasks/SearchQuery.ts"
import { UserRepo } from "../../src/Users/UserRepo.ts"

const alice = { id: "aaaaaaaa-0000-4000-8000-000000000001", username: "Alice" }
const bob = {
  id: "bbbbbbbb-0000-4000-8000-000000000002",
  username: "bob",
  email: "bob@example.com",
  avatar_url: "",
  roles: ["member" as const],
  organization_ids: [],
  created_at: new Date(0)
}
const acme = { id: "cccccccc-0000-4000-8000-000000000003", name: "acme" }

/** A UserRepo that knows bob and acme (case-insensitively, as the real one) and records every lookup. */
const stubUsers = () => {
  const calls: Array<string> = []
  const unused = (name: string) => () => Effect.die(new Error(`UserRepo.${name} is not used by the search`))
  const layer = Layer.succeed(
    UserRepo,
    UserRepo.of({
      findByUsername: (username) =>
        Effect.sync(() => {
          calls.push(`findByUsername(${username})`)
          return username.toLowerCase() === bob.username ? bob : undefined
        }),
      findOrganizationByName: (name) =>
        Effect.sync(() => {
          calls.push(`findOrganizationByName(${name})`)
          return name.toLowerCase() === acme.name ? acme : undefined
        }),
      findById: unused("findById"),
      insert: unused("insert"),
      findOrganization: unused("findOrganization"),
      defaultOrganization: Effect.die(new Error("UserRepo.defaultOrganization is not used by the search")),
      list: Effect.die(new Error("UserRepo.list is not used by the search")),
      isMember: unused("isMember")
    })
  )
  return { calls, layer }
}

/** Parses `q` as alice; the filter, the validations as plain `{field, detail}`, and the lookups made. */
const parse = (q: string, actor = alice) => {
  const users = stubUsers()
  return parseTaskSearch(q, actor).pipe(
    Effect.map(({ errors, search }) => ({
      search,
      errors: errors.map((error) => ({ field: error.field, detail: error.detail })),
      calls: users.calls
    })),
    Effect.provide(users.layer)
  )
}

const startsOrEnds = (element: string) => ({
  field: "q",
  detail: `Query element "${element}" cannot start or end with ':'`
})
const moreThanOneColon = (element: string) => ({
  field: "q",
  detail: `Query element "${element}" can only contain 1 ':'`
})
const givenTwice = (key: string, times = 2) => ({
  field: key,
  detail:
    `Query param "${key}" provided more than once, found ${times} times. Only provide 1 instance of this query param.`
})
const unknownUser = (name: string) => ({
  field: "owner",
  detail:
    `Query param "owner" has invalid value: user "${name}" either does not exist, or you are unauthorized to view them`
})
const unknownOrganization = (name: string) => ({
  field: "organization",
  detail:
    `Query param "organization" has invalid value: organization "${name}" either does not exist, or you are unauthorized to view it`
})

describe("tokenize", () => {
  it("lowercases, keeps key:value elements in order and joins free text into one last owner element", () => {
    const { errors, pairs } = tokenize("Status:Active  Some Body organization:ACME")
    assert.deepStrictEqual(pairs, [["status", "active"], ["organization", "acme"], ["owner", "some body"]])
    assert.deepStrictEqual(errors, [])
  })

  it("splits on spaces outside double quotes only, then trims the quotes of key:value parts", () => {
    const { errors, pairs } = tokenize(`owner:"Jane Doe" organization:"a:b" "x y"`)
    // The quoted colon is not a separator; the quoted space is not a split. Free text keeps its quotes:
    // Coder's searchTerms hands the element itself (not the trimmed part) to the default key.
    assert.deepStrictEqual(pairs, [["owner", "jane doe"], ["organization", "a:b"], ["owner", `"x y"`]])
    assert.deepStrictEqual(errors, [])
    // strings.Trim: only leading and trailing quotes go.
    assert.deepStrictEqual(tokenize(`owner:a"b"c`).pairs, [["owner", `a"b"c`]])
  })

  it("empty parts are dropped (strings.FieldsFunc): repeated spaces, owner::me", () => {
    assert.deepStrictEqual(tokenize("owner::me   status:active"), {
      pairs: [["owner", "me"], ["status", "active"]],
      errors: []
    })
  })

  it("stops at the first malformed element: one validation, no pairs", () => {
    const { errors, pairs } = tokenize("status:active owner: a:b:c")
    assert.deepStrictEqual(pairs, [])
    assert.deepStrictEqual(errors.map((error) => ({ field: error.field, detail: error.detail })), [
      startsOrEnds("owner:")
    ])
  })

  it("reports an element that starts or ends with ':' and an element with two ':'", () => {
    const plain = (q: string) => {
      const { errors, pairs } = tokenize(q)
      assert.isTrue(errors.every((error) => error instanceof ValidationError))
      return { pairs, errors: errors.map((error) => ({ field: error.field, detail: error.detail })) }
    }
    assert.deepStrictEqual(plain("owner:"), { pairs: [], errors: [startsOrEnds("owner:")] })
    assert.deepStrictEqual(plain(":me"), { pairs: [], errors: [startsOrEnds(":me")] })
    assert.deepStrictEqual(plain("a:b:c"), { pairs: [], errors: [moreThanOneColon("a:b:c")] })
    // The element is reported lowercased, as Coder lowercases the whole query first.
    assert.deepStrictEqual(plain("Owner:Me:You"), { pairs: [], errors: [moreThanOneColon("owner:me:you")] })
  })

  it("an empty or all-space query has no elements", () => {
    assert.deepStrictEqual(tokenize(""), { pairs: [], errors: [] })
    assert.deepStrictEqual(tokenize("   "), { pairs: [], errors: [] })
  })
})

describe("parseTaskSearch", () => {
  it.effect("an empty q is no filter and looks nothing up", () =>
    Effect.gen(function*() {
      const result = yield* parse("")
      assert.deepStrictEqual(result, { search: {}, errors: [], calls: [] })
    }))

  it.effect("owner:me, in any case, is the caller, with no lookup", () =>
    Effect.gen(function*() {
      for (const q of ["owner:me", "OWNER:ME", "Owner:Me", "me"]) {
        const result = yield* parse(q)
        assert.deepStrictEqual(result, { search: { ownerId: alice.id }, errors: [], calls: [] }, q)
      }
    }))

  it.effect("the caller's own username, in any case, is the caller, with no lookup", () =>
    Effect.gen(function*() {
      for (const q of ["owner:alice", "owner:ALICE", "alice"]) {
        const result = yield* parse(q)
        assert.deepStrictEqual(result, { search: { ownerId: alice.id }, errors: [], calls: [] }, q)
      }
    }))

  it.effect("a UUID owner is used as is (lowercased), without an existence check", () =>
    Effect.gen(function*() {
      const id = "DDDDDDDD-0000-4000-8000-00000000000D"
      const result = yield* parse(`owner:${id}`)
      assert.deepStrictEqual(result, { search: { ownerId: id.toLowerCase() }, errors: [], calls: [] })
    }))

  it.effect("another username is looked up (lowercased query); free text is an owner too", () =>
    Effect.gen(function*() {
      const byKey = yield* parse("owner:BOB")
      assert.deepStrictEqual(byKey, { search: { ownerId: bob.id }, errors: [], calls: ["findByUsername(bob)"] })
      const free = yield* parse("Bob")
      assert.deepStrictEqual(free, { search: { ownerId: bob.id }, errors: [], calls: ["findByUsername(bob)"] })
    }))

  it.effect("an unknown username is Coder's owner validation", () =>
    Effect.gen(function*() {
      const result = yield* parse("owner:nosuchuser")
      assert.deepStrictEqual(result.search, {})
      assert.deepStrictEqual(result.errors, [unknownUser("nosuchuser")])
      assert.deepStrictEqual(result.calls, ["findByUsername(nosuchuser)"])
    }))

  it.effect("free text of several words is one owner name, joined by single spaces", () =>
    Effect.gen(function*() {
      const result = yield* parse("no  such   user")
      assert.deepStrictEqual(result.errors, [unknownUser("no such user")])
      assert.deepStrictEqual(result.calls, ["findByUsername(no such user)"])
    }))

  it.effect("organization: a UUID is used as is, a name is looked up, an unknown name is a validation", () =>
    Effect.gen(function*() {
      const id = "eeeeeeee-0000-4000-8000-00000000000e"
      assert.deepStrictEqual(yield* parse(`organization:${id}`), {
        search: { organizationId: id },
        errors: [],
        calls: []
      })
      assert.deepStrictEqual(yield* parse("organization:ACME"), {
        search: { organizationId: acme.id },
        errors: [],
        calls: ["findOrganizationByName(acme)"]
      })
      const unknown = yield* parse("organization:nosuchorg")
      assert.deepStrictEqual(unknown.search, {})
      assert.deepStrictEqual(unknown.errors, [unknownOrganization("nosuchorg")])
    }))

  it.effect("status: every task status is accepted, in any case", () =>
    Effect.gen(function*() {
      for (const status of ["pending", "initializing", "active", "paused", "error", "unknown"] as const) {
        const result = yield* parse(`status:${status.toUpperCase()}`)
        assert.deepStrictEqual(result, { search: { status }, errors: [], calls: [] }, status)
      }
    }))

  it.effect("an unknown status is a validation naming the value and the allowed ones, in AllTaskStatuses order", () =>
    Effect.gen(function*() {
      const result = yield* parse("status:sleeping")
      assert.deepStrictEqual(result.search, {})
      assert.deepStrictEqual(result.errors, [{
        field: "status",
        detail:
          `Query param "status" has invalid value: "sleeping" is not a task status; use one of pending, initializing, active, paused, error, unknown`
      }])
    }))

  it.effect("all keys together make one filter", () =>
    Effect.gen(function*() {
      const result = yield* parse("owner:bob organization:acme status:paused")
      assert.deepStrictEqual(result.search, { ownerId: bob.id, organizationId: acme.id, status: "paused" })
      assert.deepStrictEqual(result.errors, [])
      assert.deepStrictEqual(result.calls, ["findByUsername(bob)", "findOrganizationByName(acme)"])
    }))

  it.effect("a quoted value (as the SDK sends it) is unquoted before it is resolved", () =>
    Effect.gen(function*() {
      const result = yield* parse(`owner:"me" organization:"acme" status:"active"`)
      assert.deepStrictEqual(result.search, { ownerId: alice.id, organizationId: acme.id, status: "active" })
      assert.deepStrictEqual(result.errors, [])
    }))

  it.effect("a key given twice is reported and not applied; free text counts as an owner", () =>
    Effect.gen(function*() {
      const twice = yield* parse("owner:me owner:me")
      assert.deepStrictEqual(twice, { search: {}, errors: [givenTwice("owner")], calls: [] })
      const withFree = yield* parse("owner:bob bob")
      assert.deepStrictEqual(withFree, { search: {}, errors: [givenTwice("owner")], calls: [] })
      const thrice = yield* parse("status:active status:paused status:error")
      assert.deepStrictEqual(thrice.errors, [givenTwice("status", 3)])
    }))

  it.effect("an unknown key is reported with the key as the field", () =>
    Effect.gen(function*() {
      const result = yield* parse("color:blue")
      assert.deepStrictEqual(result, {
        search: {},
        errors: [{ field: "color", detail: `"color" is not a valid query param` }],
        calls: []
      })
    }))

  it.effect("value errors of different keys are all reported", () =>
    Effect.gen(function*() {
      const result = yield* parse("owner:nosuchuser organization:nosuchorg status:sleeping")
      assert.deepStrictEqual(result.errors.map((error) => error.field), ["owner", "organization", "status"])
      assert.deepStrictEqual(result.errors.slice(0, 2), [unknownUser("nosuchuser"), unknownOrganization("nosuchorg")])
    }))

  it.effect("an empty value after quotes is no filter (the parser ignores empty values)", () =>
    Effect.gen(function*() {
      const result = yield* parse(`owner:"" status:active`)
      assert.deepStrictEqual(result, { search: { status: "active" }, errors: [], calls: [] })
    }))

  // Coder's searchquery.Tasks (coderd/searchquery/search.go: searchTerms + httpapi.QueryParamParser).
  describe("Coder conformance", () => {
    it.effect("the first bad element is the only validation: searchTerms returns at once", () =>
      Effect.gen(function*() {
        const result = yield* parse("owner: :me a:b:c color:blue owner:nosuchuser")
        assert.deepStrictEqual(result.errors, [startsOrEnds("owner:")])
        assert.deepStrictEqual(result.calls, [], "no lookups once the query is malformed")
        const later = yield* parse("color:blue owner:nosuchuser a:b:c")
        assert.deepStrictEqual(later, { search: {}, errors: [moreThanOneColon("a:b:c")], calls: [] })
      }))

    it.effect("per key in Coder's order (owner, organization, status), unknown keys last", () =>
      Effect.gen(function*() {
        const result = yield* parse("color:blue organization:a organization:b owner:nosuchuser")
        assert.deepStrictEqual(result.errors, [
          unknownUser("nosuchuser"),
          givenTwice("organization"),
          { field: "color", detail: `"color" is not a valid query param` }
        ])
        const all = yield* parse("size:xl status:sleeping status:paused organization:nosuchorg owner:a owner:b")
        assert.deepStrictEqual(all.errors.map((error) => error.field), ["owner", "organization", "status", "size"])
        assert.deepStrictEqual(all.errors.slice(0, 3), [
          givenTwice("owner"),
          unknownOrganization("nosuchorg"),
          givenTwice("status")
        ])
      }))

    it.effect("empty parts between colons are dropped (strings.FieldsFunc): owner::me is owner:me", () =>
      Effect.gen(function*() {
        const result = yield* parse("owner::me")
        assert.deepStrictEqual(result, { search: { ownerId: alice.id }, errors: [], calls: [] })
      }))

    it.effect("an owner or organization in any form uuid.Parse takes ({...}, 32 hex digits) is a UUID", () =>
      Effect.gen(function*() {
        const id = "dddddddd-0000-4000-8000-00000000000d"
        for (const form of [`{${id}}`, id.replaceAll("-", ""), `{${id.toUpperCase()}}`]) {
          const result = yield* parse(`owner:${form}`)
          assert.deepStrictEqual(result, { search: { ownerId: id }, errors: [], calls: [] }, form)
          const organization = yield* parse(`organization:${form}`)
          assert.deepStrictEqual(organization, { search: { organizationId: id }, errors: [], calls: [] }, form)
        }
      }))

    it.effect("a repeated key whose first value is empty is not given (Coder checks the first value first)", () =>
      Effect.gen(function*() {
        const result = yield* parse(`owner:"" owner:bob status:active`)
        assert.deepStrictEqual(result, { search: { status: "active" }, errors: [], calls: [] })
      }))

    it.effect("quoted free text keeps its quotes, as Coder's default key gets the element itself", () =>
      Effect.gen(function*() {
        const result = yield* parse(`"bob"`)
        // Coder quotes the name with %q (strconv.Quote): the quotes come back escaped.
        assert.deepStrictEqual(result.errors, [{
          field: "owner",
          detail:
            `Query param "owner" has invalid value: user "\\"bob\\"" either does not exist, or you are unauthorized to view them`
        }])
        assert.deepStrictEqual(result.calls, [`findByUsername("bob")`])
      }))
  })
})
