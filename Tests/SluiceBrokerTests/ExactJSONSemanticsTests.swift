import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// What the JSON parser and the input-schema validator decide, exactly: code points for strings,
/// exact values for numbers, ECMA-262 for patterns, the calendar for dates, every violation.
@Suite struct ExactJSONSemanticsTests {
    static func schema(_ text: String) throws -> InputSchema { try InputSchema(try JSONValue(parsing: text)) }
    static func value(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    // "é" as one code point (U+00E9) and as e + combining acute (U+0065 U+0301): canonically
    // equivalent for Swift's String ==, different for JSON.
    static let composed = "\"\\u00e9\""
    static let decomposed = "\"e\\u0301\""

    @Test func stringsAndMemberNamesCompareByCodePoints() throws {
        #expect(try Self.value(Self.composed) != Self.value(Self.decomposed))
        let enumSchema = try Self.schema(#"{"enum": ["\u00e9"]}"#)
        #expect(enumSchema.accepts(try Self.value(Self.composed)))
        #expect(!enumSchema.accepts(try Self.value(Self.decomposed)), "a look-alike is not in the enum")
        #expect(!(try Self.schema(#"{"const": "\u00e9"}"#)).accepts(try Self.value(Self.decomposed)))

        // Two members whose names are look-alikes are two members, not a duplicate.
        let object = try Self.value(#"{"\u00e9": 1, "e\u0301": 2}"#)
        #expect(object.objectMembers?.count == 2)
        #expect(object["\u{E9}"] == 1 && object["e\u{301}"] == 2)
        #expect(throws: JSONParseError.self) { try Self.value(#"{"\u00e9": 1, "\u00e9": 2}"#) }

        // required and additionalProperties see the exact name.
        let strict = try Self.schema(
            #"{"type": "object", "required": ["\u00e9"], "properties": {"\u00e9": {}}, "additionalProperties": false}"#)
        let lookAlike = try Self.value(#"{"e\u0301": 1}"#)
        #expect(!strict.accepts(lookAlike))
        #expect(Set(strict.violations(of: lookAlike).map(\.rule)) == ["required", "additionalProperties"])
    }

    @Test func numbersKeepTheirExactValue() throws {
        let minimumZero = try Self.schema(#"{"minimum": 0}"#)
        #expect(!minimumZero.accepts(try Self.value("-1e-400")), "-1e-400 is below 0, not -0.0")
        #expect(minimumZero.accepts(try Self.value("1e-400")))
        #expect(try Self.value("1e400") == .decimal("1e400"), "a valid JSON number, kept exactly")
        #expect(try Self.schema(#"{"type": "integer"}"#).accepts(try Self.value("1e400")))

        let belowTwoToThe53 = try Self.schema(#"{"maximum": 9007199254740992}"#)
        #expect(!belowTwoToThe53.accepts(try Self.value("9007199254740993")))
        let huge = "123456789012345678901234567890"
        #expect(try Self.value(huge) == .decimal(huge))
        #expect(try Self.schema("{\"const\": \(huge)}").accepts(try Self.value(huge)))
        #expect(!(try Self.schema("{\"const\": \(huge)}")).accepts(try Self.value("123456789012345678901234567891")))
        #expect(!(try Self.schema("{\"maximum\": \(huge)}")).accepts(try Self.value("123456789012345678901234567891")))

        // 1 and 1.0 are the same value for enum and const; the payload bytes stay distinct.
        #expect(try Self.schema(#"{"enum": [1]}"#).accepts(try Self.value("1.0")))
        #expect(try Self.schema(#"{"const": [1.0, {"a": 2}]}"#).accepts(try Self.value(#"[1, {"a": 2.0}]"#)))
        #expect(try Self.value("1").canonicalBytes() != Self.value("1.0").canonicalBytes())
    }

    /// `multipleOf`, `exclusiveMinimum` and `exclusiveMaximum` on exact values: what a division
    /// or a comparison through Double gets wrong.
    @Test func multiplesAndExclusiveBoundsAreExact() throws {
        let even = try Self.schema(#"{"multipleOf": 2}"#)
        #expect(!even.accepts(try Self.value("9007199254740993")), "odd, though as a double it is 2^53")
        #expect(even.accepts(try Self.value("18446744073709551618")))
        #expect(!even.accepts(try Self.value("18446744073709551617")))
        #expect(even.accepts(try Self.value("-4")))
        #expect(even.accepts(try Self.value("0")))
        #expect(!even.accepts(try Self.value("2.5")))
        #expect(even.accepts(try Self.value("4.0")))
        #expect(try Self.schema(#"{"multipleOf": 0.1}"#).accepts(try Self.value("0.3")), "0.3 / 0.1 is 3, not 2.9999…")
        #expect(try Self.schema(#"{"multipleOf": 0.01}"#).accepts(try Self.value("19.99")))
        #expect(!(try Self.schema(#"{"multipleOf": 0.01}"#)).accepts(try Self.value("19.999")))
        #expect(try Self.schema(#"{"multipleOf": 0.5}"#).accepts(try Self.value("1e400")))
        #expect(!(try Self.schema(#"{"multipleOf": 3}"#)).accepts(try Self.value("1e400")))
        #expect(!(try Self.schema(#"{"multipleOf": 7}"#)).violations(of: try Self.value("15")).isEmpty)
        #expect((try Self.schema(#"{"multipleOf": 7}"#)).violations(of: try Self.value("14")).isEmpty)

        let above = try Self.schema(#"{"exclusiveMinimum": 0}"#)
        #expect(!above.accepts(try Self.value("0")))
        #expect(!above.accepts(try Self.value("0.0")))
        #expect(above.accepts(try Self.value("1e-400")), "above 0, though it rounds to 0.0")
        let below = try Self.schema(#"{"exclusiveMaximum": 9007199254740993}"#)
        #expect(below.accepts(try Self.value("9007199254740992")))
        #expect(!below.accepts(try Self.value("9007199254740993")))
        #expect(
            try Self.schema(#"{"exclusiveMaximum": 5}"#).violations(of: try Self.value("5")).map(\.rule)
                == ["exclusiveMaximum"])

        // A divisor must be positive and fit 64 bits; bounds must be numbers (not draft 4's booleans).
        for refused in [
            #"{"multipleOf": 0}"#, #"{"multipleOf": -2}"#, #"{"multipleOf": "2"}"#,
            #"{"multipleOf": 1234567890123456789}"#, #"{"exclusiveMinimum": true}"#, #"{"exclusiveMaximum": "1"}"#,
        ] {
            #expect(throws: ContractError.self, "\(refused)") { try Self.schema(refused) }
        }
    }

    @Test func patternsFollowECMA262InLinearTime() throws {
        let end = try Self.schema(#"{"pattern": "^abc$"}"#)
        #expect(end.accepts(.string("abc")))
        #expect(!end.accepts(.string("abc\n")), "$ does not match before a trailing newline")
        #expect(!(try Self.schema(#"{"pattern": "^\\d+$"}"#)).accepts(.string("\u{0664}\u{0662}")), "\\d is ASCII")
        #expect(!(try Self.schema(#"{"pattern": "^\\w$"}"#)).accepts(.string("é")), "\\w is ASCII")
        #expect(try Self.schema(#"{"pattern": "^\\s$"}"#).accepts(.string("\u{FEFF}")))
        #expect(try Self.schema(#"{"pattern": "[^\\d\\s]x{2,3}"}"#).accepts(.string("9 axx")))
        #expect(try Self.schema(#"{"pattern": "^(?:a|bc)*\\bz$"}"#).accepts(.string("abcz")) == false)
        #expect(try Self.schema(#"{"pattern": "^\\u{1F600}.$"}"#).accepts(.string("😀!")))

        // A pattern that makes backtracking engines take exponential time returns at once here.
        let evil = try Self.schema(#"{"pattern": "^(a+)+$"}"#)
        #expect(!evil.accepts(.string(String(repeating: "a", count: 5000) + "!")))

        for refused in [#"\a"#, #"(?=x)"#, #"(?<!x)y"#, #"(a)\1"#, #"a{2,1}"#, #"a**"#, #"{"#, #"x{1001}"#, #"\p{L}"#, #"(?i)a"#] {
            let json = JSONValue.object(["pattern": .string(refused)])
            #expect(throws: ContractError.self, "\(refused)") { try InputSchema(json) }
        }
    }

    @Test func dateTimesAreOnTheCalendar() throws {
        let dateTime = try Self.schema(#"{"format": "date-time"}"#)
        #expect(dateTime.accepts(.string("2024-02-29T12:00:00Z")))
        #expect(!dateTime.accepts(.string("2023-02-29T12:00:00Z")), "2023 is not a leap year")
        #expect(!dateTime.accepts(.string("2026-04-31T00:00:00Z")))
        #expect(!dateTime.accepts(.string("1900-02-29T00:00:00Z")))
        #expect(dateTime.accepts(.string("1998-12-31T23:59:60Z")), "a leap second")
        #expect(dateTime.accepts(.string("1998-12-31T15:59:60.123-08:00")), "the same leap second, in UTC-8")
        #expect(!dateTime.accepts(.string("1998-12-31T23:58:60Z")))
    }

    @Test func everyViolationIsReported() throws {
        let schema = try Self.schema(#"{"type": "string", "enum": ["a", "b"], "const": "a"}"#)
        #expect(Set(schema.violations(of: 5).map(\.rule)) == ["type", "enum", "const"])
        let object = try Self.schema(
            #"{"type": "object", "required": ["a", "b"], "properties": {"c": {"type": "string", "minLength": 3, "pattern": "^x"}}}"#)
        #expect(object.violations(of: try Self.value(#"{"c": "y"}"#)).map(\.pointer) == ["/a", "/b", "/c", "/c"])
    }

    /// Through the broker: a number SQLite cannot store is refused with a clear error, nothing written.
    @Test func aNumberSQLiteCannotStoreIsRefusedAtAdmission() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        for number in ["1e400", "123456789012345678901234567890"] {
            do {
                try await client.send("task.create@v1", ["title": "n", "priority": try Self.value(number)])
                Issue.record("\(number) was accepted")
            } catch let error as WireError {
                #expect(error.code == .validationFailed)
                #expect(error.details["violations"]?.arrayValue?.first?["pointer"] == "/priority", "\(error)")
            }
        }
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    /// Two idempotency keys that differ in their code points are two commands, also while both
    /// are in flight (sent back to back, admitted in one pass): `"é"` and `"e\u{301}"`.
    @Test func lookAlikeIdempotencyKeysAreTwoCommands() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        for (index, key) in ["\u{e9}", "e\u{301}"].enumerated() {
            let request = CommandRequest(
                requestID: "k\(index)", contract: ContractID("task.create@v1")!, idempotencyKey: key,
                payload: ["title": .string("key \(index)")])
            try socket.send([[]] + request.message().frames())
        }
        var acknowledged: [String: Acknowledgement] = [:]
        while acknowledged.count < 2, let reply = try socket.receiveMessage() {
            acknowledged[reply.requestID ?? ""] = Acknowledgement(json: reply.body)
        }
        let first = try #require(acknowledged["k0"])
        let second = try #require(acknowledged["k1"])
        #expect(!first.duplicate && !second.duplicate)
        #expect(first.seq != second.seq)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 2)
    }
}
