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
                   "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                   "score": {"type": ["number", "null"]}
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
    ])
    func unknownOrMalformedKeywordsAreRefusedAtLoad(_ text: String) throws {
        #expect(throws: ContractError.self) { try InputSchema(try JSONValue(parsing: text)) }
    }
}
