import Testing

@testable import SluiceWire

/// Checked JSON text, built only when asked: the check must accept exactly what the parser
/// accepts (an event whose body passed the check must never fail to build later), and an event
/// built from text must be the event built from its value.
@Suite struct JSONTextTests {
    /// Documents of every shape, valid and not, and the corners the parser decides.
    static let corpus: [String] = [
        #"{}"#, #"[]"#, #""""#, "0", "-0", "-1", "1.5", "1e400", "-1e-400", "123456789012345678901234567890",
        "9223372036854775807", "-9223372036854775808", "true", "false", "null",
        #"{"a":1,"b":[true,false,null],"c":{"d":"x"}}"#, #"{ "a" : 1 , "b" : [ ] }"#,
        #"{"actor":"tasks","contract":"task.create@v1","input":{"id":"t-1","title":"caf\u00e9"},"seq":7}"#,
        #"{"b":1,"a":2}"#, #"{"a":1,"a":2}"#, #"{"a":{"x":1,"x":2}}"#, #"{"\u00e9":1,"e\u0301":2}"#,
        #"{"é":1,"é":2}"#, #"{"n":"tab\there"}"#, #"{"n":"\ud83d\ude00"}"#, #"{"n":"\ud83d"}"#,
        #"{"n":"\udc00x"}"#, #"{"n":"\x"}"#, #"{"n":"\u12G4"}"#, #"{"n":"caf"#, #"{"a":1,}"#, #"[1,]"#, #"[1 2]"#,
        #"{"a" 1}"#, #"{a:1}"#, "01", "1.", ".5", "1e", "-", "+1", "tru", "nul", "[", "{", #"{"a":1} x"#, " 7 ",
        #"[1e5,2.50,-0.0,1E+2]"#, #"{"z":[{"b":[{"a":null}]}],"zz":"\/"}"#,
    ]

    static func parsed(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
        Result { () throws(JSONParseError) in try JSONValue(parsing: bytes) }
    }

    /// What the check says about `bytes` against what the parser says: the same error when it
    /// throws; when it passes, the parser builds the value, and canonical is never claimed
    /// wrongly; when it cannot tell (nil), the parser decides.
    static func agree(_ bytes: [UInt8]) -> Bool {
        let parse = parsed(bytes)
        do {
            guard let text = try JSONText(checking: bytes) else { return true }
            guard case .success(let value) = parse else { return false }
            return text.value() == value && (!text.isCanonical || value.canonicalBytes() == bytes)
        } catch {
            return parse == .failure(error)
        }
    }

    @Test(arguments: corpus)
    func theCheckThrowsWhereTheParserThrows(_ document: String) {
        #expect(Self.agree(Array(document.utf8)))
    }

    /// Every corpus document with each byte, in turn, dropped, doubled, or replaced by one of the
    /// characters JSON's grammar turns on: the mutants are mostly invalid, each in its own place.
    @Test func mutatedDocumentsAgreeToo() {
        let turning = Array("{}[]\",:\\-.0e1 atn\u{1}".utf8) + [0xC3, 0xA9, 0xFF]
        var mutants = 0
        for document in Self.corpus {
            let bytes = Array(document.utf8)
            for position in bytes.indices {
                var variants: [[UInt8]] = []
                var dropped = bytes
                dropped.remove(at: position)
                variants.append(dropped)
                var doubled = bytes
                doubled.insert(bytes[position], at: position)
                variants.append(doubled)
                for byte in turning {
                    var replaced = bytes
                    replaced[position] = byte
                    variants.append(replaced)
                }
                for variant in variants {
                    mutants += 1
                    #expect(Self.agree(variant), "\(String(decoding: variant, as: UTF8.self))")
                }
            }
        }
        #expect(mutants > 10_000)
    }

    @Test func canonicalTextIsCheckedWithoutBuildingAndSaysSo() throws {
        let body = Array(#"{"input":{"id":"t-1","n":[1,-2,true,null]},"status":"committed"}"#.utf8)
        let text = try #require(try JSONText(checking: body))
        #expect(text.isCanonical)
        #expect(text.canonicalBytes() == body)

        let spaced = try #require(try JSONText(checking: Array(#"{"a": 1.5, "b": -0}"#.utf8)))
        #expect(!spaced.isCanonical)
        #expect(spaced.canonicalBytes() == Array(#"{"a":1.5,"b":0}"#.utf8))
    }

    /// Names that are not plain ASCII or not in order need decoding to tell a duplicate from a
    /// look-alike: the check leaves those to the parser, which keeps look-alikes as two members
    /// and refuses a duplicate.
    @Test func namesTheCheckCannotTellApartAreLeftToTheParser() throws {
        for document in [#"{"\u00e9":1,"e\u0301":2}"#, #"{"b":1,"a":2}"#, #"{"a":1,"a":2}"#, #"{"é":1}"#] {
            #expect(try JSONText(checking: Array(document.utf8)) == nil, "\(document)")
        }
        #expect(try JSONValue(parsing: #"{"\u00e9":1,"e\u0301":2}"#).objectMembers?.count == 2)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"a":1,"a":2}"#) }
    }

    @Test func anObjectsMemberCanBeKeptAsText() throws {
        let replay = Array(#"{"epoch":"e1","event":{"a":[1,2],"b":"x"},"seq":3,"stream":"s","topic":"t"}"#.utf8)
        let (object, text) = try JSONValue.parsingObject(replay, keepingTextOf: "event")
        #expect(object["event"] == .null)
        #expect(object["seq"] == 3 && object["topic"] == "t")
        let event = try #require(text)
        #expect(event.isCanonical)
        #expect(event.bytes == Array(#"{"a":[1,2],"b":"x"}"#.utf8))

        // A value the check cannot tell about is built in place; a second member of that name
        // is a duplicate, as anywhere else; a nested member of that name is an ordinary one.
        let unordered = try JSONValue.parsingObject(Array(#"{"event":{"b":1,"a":2},"seq":1}"#.utf8), keepingTextOf: "event")
        #expect(unordered.text == nil)
        #expect(unordered.object["event"] == ["a": 2, "b": 1])
        #expect(throws: JSONParseError.self) {
            try JSONValue.parsingObject(Array(#"{"event":1,"event":2}"#.utf8), keepingTextOf: "event")
        }
        let nested = try JSONValue.parsingObject(Array(#"{"x":{"event":5}}"#.utf8), keepingTextOf: "event")
        #expect(nested.text == nil && nested.object["x"]?["event"] == 5)
        // A malformed kept value fails the whole document, where the parser would.
        #expect(throws: JSONParseError.self) {
            try JSONValue.parsingObject(Array(#"{"event":{"a":01}}"#.utf8), keepingTextOf: "event")
        }
    }

    @Test func anEventFromTextIsTheEventFromItsValue() throws {
        let body: JSONValue = ["contract": "task.create@v1", "input": ["id": "t-1"], "seq": 4]
        let fromValue = Event(topic: "audit.tasks", stream: "tasks", seq: 4, epoch: "e", body: body)
        let received = try Event(frames: fromValue.frames())
        #expect(received == fromValue)
        #expect(received.body == body)
        #expect(received.bodyBytes == body.canonicalBytes())
        #expect(received.frames() == fromValue.frames())

        var changed = received
        changed.body = ["other": true]
        #expect(changed != received)
        #expect(changed.bodyBytes == Array(#"{"other":true}"#.utf8))
        #expect(received.body == body, "a copy's new body is its own")

        // A body the check cannot tell about is built at once, and a malformed one is refused.
        var frames = fromValue.frames()
        frames[2] = Array(#"{"b":1,"a":2}"#.utf8)
        #expect(try Event(frames: frames).body == ["a": 2, "b": 1])
        frames[2] = Array(#"{"a":1,"a":2}"#.utf8)
        #expect(throws: WireError.self) { try Event(frames: frames) }
        frames[2] = Array(#"{"a":[1,}"#.utf8)
        #expect(throws: WireError.self) { try Event(frames: frames) }
    }
}
