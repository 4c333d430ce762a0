import Testing

@testable import SluiceWire

@Suite struct JSONValueTests {
    @Test func canonicalEncodingSortsKeysAndDropsWhitespace() throws {
        let a = try JSONValue(parsing: #"{ "b": 1, "a": [true, null, 2.5, "x\n\"y\""] }"#)
        let b = try JSONValue(parsing: #"{"a":[true,null,2.5,"x\n\"y\""],"b":1}"#)
        #expect(a == b)
        #expect(a.canonicalString == #"{"a":[true,null,2.5,"x\n\"y\""],"b":1}"#)
        #expect(SHA256.hexDigest(a.canonicalBytes()) == SHA256.hexDigest(b.canonicalBytes()))
    }

    /// The broker hashes and logs a body's bytes as received when the parser says they already
    /// are canonical: it must say so for what the clients send, and never for anything else.
    @Test(arguments: [
        #"{}"#, #"[]"#, #"{"a":1,"b":[true,false,null],"c":{"d":"x"}}"#, #"{"n":-12,"title":"caf\#u{e9} \#u{1F600}"}"#,
        #"{"id":9223372036854775807,"min":-9223372036854775808}"#, #""plain""#, "0", "-1", "[[],{}]",
    ])
    func canonicalInputIsRecognized(_ text: String) throws {
        let bytes = Array(text.utf8)
        let (value, canonical) = try JSONValue.parsingCanonical(bytes)
        #expect(value.canonicalBytes() == bytes)
        #expect(canonical)
    }

    @Test(arguments: [
        #"{ "a":1}"#, #"{"b":1,"a":2}"#, #"{"a":"x\ny"}"#, #""\u0041""#, #""a\/b""#, "-0", "1.0", "1e2", "2.5",
        "100000000000000000000", "[1 ]", "\n{}", "{}\n", #"{"a":[1, 2]}"#, #"{"é":2,"e\#u{301}":1}"#,
    ])
    func otherInputIsNotClaimedCanonical(_ text: String) throws {
        let bytes = Array(text.utf8)
        // (Some of these encode to themselves, e.g. "2.5": the parser may miss a canonical
        // document, never claim a wrong one.)
        #expect(try !JSONValue.parsingCanonical(bytes).canonical)
    }

    @Test func aCanonicalBodyIsKeptAndOtherwiseNot() throws {
        let header = Array(#"{"contract":"t.c@v1","idempotency_key":"k","request_id":"r"}"#.utf8)
        let kind = Array("COMMAND".utf8)
        let canonical = try WireMessage(frames: [WireMessage.protocolTag, kind, header, Array(#"{"a":1}"#.utf8)])
        #expect(canonical.canonicalBody == Array(#"{"a":1}"#.utf8))
        #expect(try CommandRequest(canonical).canonicalPayloadBytes() == Array(#"{"a":1}"#.utf8))
        let spaced = try WireMessage(frames: [WireMessage.protocolTag, kind, header, Array(#"{ "a" : 1 }"#.utf8)])
        #expect(spaced.canonicalBody == nil)
        #expect(try CommandRequest(spaced).canonicalPayloadBytes() == Array(#"{"a":1}"#.utf8))
        #expect(spaced == canonical)
    }

    /// A literal written in code is an object as JSON sees it: names that differ in their code
    /// points stay two members although they look alike, and a name written twice keeps its last
    /// value, in any order of writing.
    @Test func literalsKeepNamesByCodePoints() throws {
        let lookAlikes: JSONValue = ["\u{e9}": 1, "e\u{301}": 2]
        #expect(lookAlikes.canonicalString == #"{"e\#u{301}":2,"\#u{e9}":1}"#)
        let repeated: JSONValue = ["b": 1, "a": 2, "b": 3]
        #expect(repeated.canonicalString == #"{"a":2,"b":3}"#)
        let inOrder: JSONValue = ["a": 1, "b": 2, "b": 4]
        #expect(inOrder.canonicalString == #"{"a":1,"b":4}"#)
        #expect(try JSONValue(parsing: #"{"z":[],"m":null,"a":{"y":1,"x":2}}"#) == ["a": ["x": 2, "y": 1], "m": nil, "z": []])
    }

    /// Members in any order parse to one object (sorted by name); a name twice, wherever it is,
    /// is refused — for small objects (sorted in place) and large ones alike.
    @Test(arguments: [2, 3, 5, 16, 17, 40])
    func membersInAnyOrderAndDuplicatesAnywhere(count: Int) throws {
        let names = (0..<count).map { "m\($0 * 7 % count)" + String(repeating: "x", count: $0 % 3) }
        let sorted = try JSONValue(parsing: "{" + names.sorted().map { "\"\($0)\":1" }.joined(separator: ",") + "}")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let shuffled = names.shuffled(using: &generator)
            let text = "{" + shuffled.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
            #expect(try JSONValue(parsing: text).canonicalBytes() == sorted.canonicalBytes())
            let twice = shuffled + [shuffled.randomElement(using: &generator)!]
            let withDuplicate = "{" + twice.shuffled(using: &generator).map { "\"\($0)\":1" }.joined(separator: ",") + "}"
            #expect(throws: JSONParseError.self) { try JSONValue(parsing: withDuplicate) }
        }
    }

    /// Names with escapes are ordered and compared by what they decode to, not by their bytes in
    /// the input (`\u0062` is `b`, whose bytes sort before `a`'s).
    @Test func escapedNamesAreOrderedAndComparedDecoded() throws {
        let object = try JSONValue(parsing: #"{"\u0062":1,"a":2}"#)
        #expect(object.canonicalString == #"{"a":2,"b":1}"#)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"a":1,"\u0061":2}"#) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"\u0061":1,"a":2}"#) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"a":1,"b":2,"a":3}"#) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"a":1,"a":2}"#) }
        let (prefixes, canonical) = try JSONValue.parsingCanonical(Array(#"{"a":1,"ab":2,"b":3}"#.utf8))
        #expect(canonical && prefixes["ab"] == .int(2))
    }

    /// Whatever the position of a quote, an escape, a control character or a non-ASCII byte in a
    /// string, it reads the same (written for a scan eight bytes at a time, which was measured no
    /// faster and not kept; it holds any faster scan to the same answers).
    @Test func stringsReadTheSameWhereverTheirSpecialBytesAre() throws {
        for length in 0..<40 {
            let plain = (0..<length).map { String(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) }.joined()
            #expect(try JSONValue(parsing: Array("\"\(plain)\"".utf8)) == .string(plain))
            for position in 0...length {
                let before = String(plain.prefix(position))
                let after = String(plain.dropFirst(position))
                #expect(try JSONValue(parsing: Array("\"\(before)\\n\(after)\"".utf8)) == .string(before + "\n" + after))
                #expect(try JSONValue(parsing: Array("\"\(before)\u{e9}\(after)\"".utf8)) == .string(before + "\u{e9}" + after))
                #expect(try JSONValue(parsing: Array("\"\(before)\u{7f}\(after)\"".utf8)) == .string(before + "\u{7f}" + after))
                for refused: UInt8 in [0x01, 0x1F, 0xFF] {
                    let bytes = Array("\"\(before)".utf8) + [refused] + Array("\(after)\"".utf8)
                    #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
                }
                let quoted = Array("[\"\(before)\",\"\(after)\"]".utf8)
                #expect(try JSONValue(parsing: quoted) == .array([.string(before), .string(after)]))
            }
        }
    }

    @Test func integersAndDoublesStayDistinct() throws {
        #expect(try JSONValue(parsing: "1") == .int(1))
        #expect(try JSONValue(parsing: "1.0") == .double(1.0))
        #expect(try JSONValue(parsing: "-0.5e2") == .double(-50))
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(Int64.max))
    }

    /// A fraction or exponent is a double unless the double would lose it: overflow to infinity
    /// or underflow to zero keep the exact value; a written zero stays a zero double.
    @Test(arguments: [
        ("2.5e-3", JSONValue.double(0.0025)), ("1E2", .double(100)), ("0.0", .double(0)), ("0e7", .double(0)),
        ("-0.0", .double(-0.0)), ("1e400", .decimal("1e400")), ("-1e-400", .decimal("-1e-400")),
        ("0.000e-999", .double(0)), ("12345678901234567890", .decimal("12345678901234567890")),
    ])
    func numbersKeepTheirValue(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    /// Numbers with a fraction or exponent are read from their digits when that is exact (at most
    /// 15 significant digits, a power of ten of at most 22) and by the standard library otherwise:
    /// either way the double is the one the standard library reads from the text, bit for bit —
    /// here over 200,000 numbers on both sides of those limits, from a fixed seed.
    @Test func doublesReadAsTheStandardLibraryReadsThem() throws {
        var state: UInt64 = 0x5EED_2026_1201
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        func digits(_ count: Int, leadingNonZero: Bool) -> String {
            String((0..<count).map { i in Character(String(i == 0 && leadingNonZero ? 1 + next(9) : next(10))) })
        }
        var compared = 0
        for _ in 0..<200_000 {
            var text = next(2) == 0 ? "" : "-"
            let integerDigits = next(12)
            text += integerDigits == 0 ? "0" : digits(integerDigits, leadingNonZero: true)
            let hasFraction = next(4) != 0
            if hasFraction { text += "." + digits(1 + next(14), leadingNonZero: false) }
            if !hasFraction || next(2) == 0 {
                text += next(2) == 0 ? "e" : "E"
                text += ["", "+", "-"][next(3)]
                text += String(next(next(5) == 0 ? 400 : 30))
            }
            let expected = Double(text)!
            let parsed = try JSONValue(parsing: text)
            if expected.isFinite && expected != 0 {
                guard case .double(let value) = parsed else {
                    Issue.record("\(text) read as \(parsed), not a double")
                    continue
                }
                #expect(value.bitPattern == expected.bitPattern, "\(text): \(value) against \(expected)")
                compared += 1
            }
        }
        #expect(compared > 150_000)
    }

    @Test func unicodeEscapesAndSurrogatePairs() throws {
        let value = try JSONValue(parsing: #""caf\u00e9 \ud83d\ude00 \u0001""#)
        #expect(value == .string("café 😀 \u{01}"))
        #expect(value.canonicalString == "\"café 😀 \\u0001\"")
        #expect(try JSONValue(parsing: value.canonicalString) == value)
    }

    @Test(arguments: [
        "", "{", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, "tru", "01", "1.", "-", #""\x""#, #""\ud800""#, "\"a\u{01}\"",
        #"{"a":1,"a":2}"#, "1 2", "NaN",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func refusesDeepNesting() throws {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        _ = try JSONValue(parsing: fine)
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xFF, 0xFE, 0x22]) }
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func knownVectors(_ input: String, _ digest: String) {
        #expect(SHA256.hexDigest(Array(input.utf8)) == digest)
    }

    @Test func millionAs() {
        #expect(
            SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
