import SluiceBroker
import SluiceWire
import Testing

@Suite struct InputSchemaTests {
    static let schema = try! InputSchema(
        try! JSONValue(
            parsing: """
                {"type": "object", "required": ["title"], "additionalProperties": false,
                 "properties": {
                   "title": {"type": "string", "minLength": 1, "maxLength": 5},
                   "priority": {"type": "integer", "minimum": 0, "maximum": 5},
                   "state": {"enum": ["open", "done"]},
                   "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                   "score": {"type": ["number", "null"]},
                   "kind": {"const": "task"},
                   "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
                   "when": {"type": "string", "format": "date-time"},
                   "ref": {"type": "string", "format": "uuid"}
                 }}
                """
        )
    )

    static let inputs: [(String, [String])] = [
        (#"{"title": "ok"}"#, []),
        (#"{"title": "ok", "priority": 5, "state": "done", "tags": ["a", "b"], "score": null}"#, []),
        (#"{"title": "ok", "priority": 2.0}"#, []),
        (#"{"title": "👍🏽ab"}"#, []),
        (#"{}"#, ["/title required"]),
        (#"{"title": ""}"#, ["/title minLength"]),
        (#"{"title": "toolong"}"#, ["/title maxLength"]),
        (#"{"title": 1}"#, ["/title type"]),
        (#"{"title": "ok", "priority": 6}"#, ["/priority maximum"]),
        (#"{"title": "ok", "priority": -1}"#, ["/priority minimum"]),
        (#"{"title": "ok", "priority": 1.5}"#, ["/priority type"]),
        (#"{"title": "ok", "state": "gone"}"#, ["/state enum"]),
        (#"{"title": "ok", "tags": ["a", 1, "c"]}"#, ["/tags maxItems", "/tags/1 type"]),
        (#"{"title": "ok", "score": "high"}"#, ["/score type"]),
        (#"{"title": "ok", "a/b~": 1}"#, ["/a~1b~0 additionalProperties"]),
        (#"[]"#, [" type"]),
        (#"{"title": "ok", "tags": []}"#, ["/tags minItems"]),
        (#"{"title": "ok", "kind": "task"}"#, []),
        (#"{"title": "ok", "kind": "note"}"#, ["/kind const"]),
        (#"{"title": "ok", "code": "ABC-42"}"#, []),
        (#"{"title": "ok", "code": "abc-42"}"#, ["/code pattern"]),
        (#"{"title": "ok", "when": "2026-11-23T12:34:56Z"}"#, []),
        (#"{"title": "ok", "when": "2026-11-23T12:34:56.789+01:00"}"#, []),
        (#"{"title": "ok", "when": "2026-13-23T12:34:56Z"}"#, ["/when format"]),
        (#"{"title": "ok", "when": "yesterday"}"#, ["/when format"]),
        (#"{"title": "ok", "ref": "5f0c1c36-9f6e-4b43-9d2b-3f8a0e2a1b7c"}"#, []),
        (#"{"title": "ok", "ref": "5f0c1c36-9f6e-4b43-9d2b"}"#, ["/ref format"]),
        (
            #"{"title": "", "priority": 9, "code": "x", "extra": 1}"#,
            [
                "/title minLength", "/priority maximum", "/code pattern", "/extra additionalProperties",
            ]
        ),
    ]

    @Test(arguments: inputs)
    func reportsEveryViolationWithItsPointer(_ input: String, _ expected: [String]) throws {
        let value = try JSONValue(parsing: input)
        let found = Self.schema.violations(of: value).map { "\($0.pointer) \($0.rule)" }
        #expect(found.sorted() == expected.sorted())
        // The allocation-free check used at admission agrees with the detailed one.
        #expect(Self.schema.accepts(value) == expected.isEmpty)
    }

    @Test(arguments: [
        #"{"type": "object", "patternProperties": {}}"#,
        #"{"type": "strin"}"#,
        #"{"required": "title"}"#,
        #"{"properties": {"a": {"minLength": -1}}}"#,
        #"{"additionalProperties": {}}"#,
        #"{"pattern": "(unclosed"}"#,
        #"{"format": "email"}"#,
        #"{"minItems": "2"}"#,
    ])
    func unknownOrMalformedKeywordsAreRefusedAtLoad(_ text: String) throws {
        #expect(throws: ContractError.self) { try InputSchema(try JSONValue(parsing: text)) }
    }
}
