#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a byte string is not the JSON document it was supposed to be.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the first byte that could not be understood.
    public var offset: Int
    public var reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Nesting deeper than this is refused, so a hostile frame cannot exhaust the parser's stack.
    public static let maximumDepth = 64

    /// Parses one complete JSON document (RFC 8259). Trailing bytes other than whitespace are an error.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        let parsed: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            var parser = JSONParser(bytes: buffer)
            return Result { () throws(JSONParseError) in try parser.parseDocument() }
        }
        if let parsed {
            self = try parsed.get()
        } else {
            self = try JSONValue.parsingCanonical(Array(bytes)).value
        }
    }

    /// Parses like ``init(parsing:)`` and says whether `bytes` already are the value's
    /// ``canonicalBytes()`` — no whitespace, members in order, no escape, integers only as
    /// numbers (a fraction or an exponent always counts as not canonical) — so a caller that needs
    /// the canonical form (the idempotency hash, the log) can keep the bytes it has instead of
    /// encoding the value again. Never claims canonical wrongly; may miss a canonical document.
    public static func parsingCanonical(_ bytes: [UInt8]) throws(JSONParseError) -> (value: JSONValue, canonical: Bool) {
        // Over the array's storage for the whole parse: reading a byte is then a load, with no
        // bounds check (each step checks `index < bytes.count` itself).
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            return Result { () throws(JSONParseError) in (try parser.parseDocument(), parser.canonical) }
        }
        return try parsed.get()
    }

    public init(parsing text: String) throws(JSONParseError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// Parses an object document like ``init(parsing:)``, except for the value of its member
    /// `name`, which is checked but not built: it comes back as `text` and stands as `null` in
    /// `object`. When that value cannot be checked without building it (see
    /// ``JSONText/init(checking:)``), it is built like the rest and `text` is nil; so is `text`
    /// when there is no such member. A document that is not an object is parsed whole.
    public static func parsingObject(_ bytes: [UInt8], keepingTextOf name: String) throws(JSONParseError) -> (
        object: JSONValue, text: JSONText?
    ) {
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            parser.textMember = Array(name.utf8)
            return Result { () throws(JSONParseError) in
                (try parser.parseDocument(), parser.textRange, parser.textCanonical)
            }
        }
        let (object, range, canonical) = try parsed.get()
        guard let range else { return (object, nil) }
        return (object, JSONText(checked: Array(bytes[range]), isCanonical: canonical))
    }
}

extension JSONText {
    /// The document `bytes` hold, checked as ``JSONValue/init(parsing:)`` would (the same errors
    /// are thrown) without building it. Nil when it cannot be checked without building it: an
    /// object whose member names are not plain ASCII or not in strictly increasing byte order
    /// (telling a duplicate name from a look-alike needs them decoded) — parse those instead.
    /// Canonical JSON whose member names are ASCII — every member the broker itself names in an
    /// event — always can be.
    public init?(checking bytes: [UInt8]) throws(JSONParseError) {
        let checked = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            return Result { () throws(JSONParseError) in try parser.skimDocument() ? parser.canonical : nil }
        }
        guard let canonical = try checked.get() else { return nil }
        self.init(checked: bytes, isCanonical: canonical)
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0
    /// Still true when everything read so far is in canonical form (see
    /// ``JSONValue/parsingCanonical(_:)``).
    var canonical = true
    /// Strings read so far that had an escape.
    var escapes = 0
    /// The name of the top-level member whose value is to be checked but not built
    /// (``JSONValue/parsingObject(_:keepingTextOf:)``), and where that value's text is when it was.
    var textMember: [UInt8]? = nil
    var textRange: Range<Int>? = nil
    /// Whether the text at `textRange` is canonical.
    var textCanonical = false

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if index != bytes.count { throw fail("unexpected bytes after the document") }
        return value
    }

    func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D:
                index += 1
                canonical = false
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] {
            throw fail("invalid literal")
        }
        index += count
    }

    mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > JSONValue.maximumDepth { throw fail("nesting deeper than \(JSONValue.maximumDepth)") }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        let start = index
        if opensEmpty(closedBy: UInt8(ascii: "}")) { return .object(JSONObject()) }
        var members: [JSONObject.Member] = []
        // Objects on the wire (headers, inputs, events) mostly have a handful of members: room
        // for eight at once instead of regrowing at 1, 2, 4 and 8.
        members.reserveCapacity(8)
        // Whether the names so far came in order, each strictly after the last: checked on
        // their bytes in the input (while no name has an escape, those are the names' bytes).
        var namesInOrder = true
        var previousName = 0..<0
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let nameStart = index + 1
            let escapesBefore = escapes
            let key = try parseString()
            let name = nameStart..<index - 1
            if namesInOrder {
                namesInOrder = escapes == escapesBefore && (members.isEmpty || precedes(previousName, name))
                previousName = name
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            members.append(JSONObject.Member(name: key, value: try parseMemberValue(name: name)))
            if try continues(closedBy: UInt8(ascii: "}")) { continue }
            // In order, each after the last: no two are the same, nothing to sort or check.
            if namesInOrder { return .object(JSONObject(sortedMembers: members)) }
            // Names are the same member only when their code points are the same.
            let (object, duplicate, inOrder) = JSONObject.sorting(members)
            if let duplicate { throw JSONParseError(offset: start, reason: "duplicate member \"\(duplicate)\"") }
            if !inOrder { canonical = false }
            return .object(object)
        }
    }

    /// Past an object's `{` or an array's `[`: true when `closer` follows at once (an empty one,
    /// read to its end).
    mutating func opensEmpty(closedBy closer: UInt8) -> Bool {
        index += 1
        skipWhitespace()
        guard index < bytes.count, bytes[index] == closer else { return false }
        index += 1
        return true
    }

    /// After an object's member or an array's item: true past a `,` (another follows), false
    /// past `closer` (`}` or `]`); anything else is an error.
    mutating func continues(closedBy closer: UInt8) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw fail("unexpected end of input") }
        if bytes[index] == UInt8(ascii: ",") {
            index += 1
            return true
        }
        if bytes[index] == closer {
            index += 1
            return false
        }
        throw fail(closer == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
    }

    /// A member's value; for the member named ``textMember`` of the top-level object (the first
    /// one, should the name come twice), `null`, its text checked and kept in ``textRange`` when
    /// it can be (``skimValue()``).
    mutating func parseMemberValue(name: Range<Int>) throws(JSONParseError) -> JSONValue {
        guard depth == 1, textRange == nil, let textMember, textMember.elementsEqual(bytes[name]) else {
            return try parseValue()
        }
        let start = index
        let canonicalBefore = canonical
        canonical = true
        defer { canonical = canonicalBefore && canonical }
        if try skimValue() {
            textRange = start..<index
            textCanonical = canonical
            return .null
        }
        index = start
        canonical = true
        return try parseValue()
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        if opensEmpty(closedBy: UInt8(ascii: "]")) { return .array([]) }
        // Room for a few items at once instead of regrowing at 1, 2 and 4.
        var items: [JSONValue] = []
        items.reserveCapacity(4)
        while true {
            skipWhitespace()
            items.append(try parseValue())
            if try continues(closedBy: UInt8(ascii: "]")) { continue }
            return .array(items)
        }
    }

    // MARK: Checking without building

    /// Checks the document the way ``parseDocument()`` reads it, building nothing; false when it
    /// cannot tell without building (see ``skimValue()``).
    mutating func skimDocument() throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard try skimValue() else { return false }
        skipWhitespace()
        if index != bytes.count { throw fail("unexpected bytes after the document") }
        return true
    }

    /// Moves past the value at `index`, throwing where ``parseValue()`` would, building nothing.
    /// False (and `index` anywhere) for an object with a member name that is not plain ASCII
    /// (an escape, other UTF-8) or does not come strictly after the one before it in byte order:
    /// telling a duplicate name from two names that only look alike needs the names decoded, so
    /// the caller parses such a value instead. Canonical senders write every object's names in
    /// that order.
    mutating func skimValue() throws(JSONParseError) -> Bool {
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try skimObject()
        case UInt8(ascii: "["): return try skimArray()
        case UInt8(ascii: "\""): _ = try skimString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            let isInteger = try scanNumber()
            // What ``parseNumber()`` counts as not canonical: fractions, exponents, -0, and (more
            // cautious than it) integers too long to be sure they fit an Int64.
            let digits = index - start - (bytes[start] == UInt8(ascii: "-") ? 1 : 0)
            if !isInteger || digits > 18 || (bytes[start] == UInt8(ascii: "-") && bytes[start + 1] == UInt8(ascii: "0")) {
                canonical = false
            }
        default: throw fail("unexpected character")
        }
        return true
    }

    mutating func skimObject() throws(JSONParseError) -> Bool {
        try enter()
        defer { depth -= 1 }
        if opensEmpty(closedBy: UInt8(ascii: "}")) { return true }
        var previousName: Range<Int>? = nil
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let nameStart = index + 1
            guard try skimString() else { return false }
            let name = nameStart..<index - 1
            if let previousName, !precedes(previousName, name) { return false }
            previousName = name
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            guard try skimValue() else { return false }
            if try continues(closedBy: UInt8(ascii: "}")) { continue }
            return true
        }
    }

    mutating func skimArray() throws(JSONParseError) -> Bool {
        try enter()
        defer { depth -= 1 }
        if opensEmpty(closedBy: UInt8(ascii: "]")) { return true }
        while true {
            skipWhitespace()
            guard try skimValue() else { return false }
            if try continues(closedBy: UInt8(ascii: "]")) { continue }
            return true
        }
    }

    /// Moves past the string at `index`; true when it is plain ASCII without an escape (its bytes
    /// are its code points). Any other string is read by ``parseString()``, which checks its
    /// escapes and its UTF-8.
    mutating func skimString() throws(JSONParseError) -> Bool {
        let quote = index
        var cursor = index + 1
        let end = bytes.count
        while cursor < end {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                index = cursor + 1
                return true
            }
            if byte == UInt8(ascii: "\\") || byte >= 0x80 { break }
            if byte < 0x20 {
                index = cursor
                throw fail("control character in string")
            }
            cursor += 1
        }
        index = quote
        _ = try parseString()
        return false
    }

    mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes. (A local cursor: the loop keeps it in a register.)
        var cursor = index
        let end = bytes.count
        var allBits: UInt8 = 0  // every byte or-ed: below 0x80, the string is ASCII
        while cursor < end {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                index = cursor
                // ASCII is valid UTF-8 as it is; other text is checked.
                let text =
                    allBits < 0x80
                    ? String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<cursor]), as: UTF8.self)
                    : try validUTF8(start..<cursor)
                index += 1
                return text
            }
            allBits |= byte
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 {
                index = cursor
                throw fail("control character in string")
            }
            cursor += 1
        }
        index = cursor
        // An escape: the canonical encoding may write these characters differently.
        canonical = false
        escapes += 1
        var scalars = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = UTF8Text.string(scalars) else {
                    throw JSONParseError(offset: start, reason: "string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail("unexpected end of input") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw fail("unpaired surrogate") }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw fail("unpaired surrogate")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid code point") }
                    UTF8.encode(scalar) { scalars.append($0) }
                default:
                    throw fail("invalid escape")
                }
            default:
                if byte < 0x20 { throw fail("control character in string") }
                scalars.append(byte)
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    func validUTF8(_ range: Range<Int>) throws(JSONParseError) -> String {
        // On the contiguous bytes: the slice-based initializer takes a generic, much slower path.
        guard let text = UTF8Text.string(UnsafeBufferPointer(rebasing: bytes[range])) else {
            throw JSONParseError(offset: range.lowerBound, reason: "string is not valid UTF-8")
        }
        return text
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("unexpected end of input") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        let isInteger = try scanNumber()
        // Integers of up to 18 digits fit an Int64 whatever they are: read them without a String.
        if isInteger, let value = smallInteger(start..<index) {
            if value == 0 && bytes[start] == UInt8(ascii: "-") { canonical = false }  // -0 is written 0
            return .int(value)
        }
        if !isInteger, let value = shortDecimal(start..<index) {
            canonical = false
            return .double(value)
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let value = Int64(text) { return .int(value) }
        canonical = false
        // A fraction or exponent whose double is finite and not zero is that double (the bytes
        // were checked to be a JSON number above).
        if !isInteger, let value = Double(text), value.isFinite, value != 0 { return .double(value) }
        // Beyond 64-bit integers, and where a double would overflow or underflow to zero, keep
        // the exact value: it is valid JSON, and comparisons must not see a rounded one.
        guard let exact = ExactNumber(text: text) else { throw JSONParseError(offset: start, reason: "invalid number") }
        if !isInteger, exact.isZero { return .double(Double(text) ?? 0) }
        return .decimal(exact.canonicalText)
    }

    /// Moves past the number at `index` (RFC 8259's grammar) and says whether it is an integer
    /// (no fraction, no exponent).
    mutating func scanNumber() throws(JSONParseError) -> Bool {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        return isInteger
    }

    /// The value of an integer's bytes (an optional minus, then digits) when it has at most 18
    /// digits; nil for longer ones, which take the exact path.
    func smallInteger(_ range: Range<Int>) -> Int64? {
        var position = range.lowerBound
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard range.upperBound - position <= 18 else { return nil }
        var value: Int64 = 0
        while position < range.upperBound {
            value = value * 10 + Int64(bytes[position] - UInt8(ascii: "0"))
            position += 1
        }
        return negative ? -value : value
    }

    /// The double of a number with a fraction or exponent (`range`, checked to be a JSON number)
    /// when it is exact to compute from its digits without a String: at most 15 significant
    /// digits (an integer below 2^53, so exact as a double) scaled by a power of ten of at most 22
    /// (exact as a double too). One multiplication or division of two exact doubles is correctly
    /// rounded, so this is the double `Double(text)` reads. Nil for anything else (more digits, a
    /// larger exponent, a zero), which takes the general path.
    func shortDecimal(_ range: Range<Int>) -> Double? {
        var position = range.lowerBound
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        var mantissa: UInt64 = 0
        var digits = 0  // significant digits taken into `mantissa`
        var scale = 0  // the power of ten `mantissa` is multiplied by
        var inFraction = false
        while position < range.upperBound {
            let byte = bytes[position]
            if byte == UInt8(ascii: ".") {
                inFraction = true
            } else if isDigit(byte) {
                if mantissa != 0 || byte != UInt8(ascii: "0") {
                    digits += 1
                    guard digits <= 15 else { return nil }
                    mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                }
                if inFraction { scale -= 1 }
            } else {
                break  // `e` or `E`
            }
            position += 1
        }
        guard mantissa != 0 else { return nil }
        if position < range.upperBound {
            position += 1  // the `e`
            var exponentNegative = false
            if bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
                exponentNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            var exponent = 0
            while position < range.upperBound {
                exponent = exponent * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                guard exponent <= 400 else { return nil }
                position += 1
            }
            scale += exponentNegative ? -exponent : exponent
        }
        guard scale >= -22 && scale <= 22 else { return nil }
        let magnitude =
            scale < 0
            ? Double(mantissa) / JSONParser.exactPowersOfTen[-scale]
            : Double(mantissa) * JSONParser.exactPowersOfTen[scale]
        return negative ? -magnitude : magnitude
    }

    /// 10^0 … 10^22: the powers of ten a double holds exactly.
    static let exactPowersOfTen: [Double] = (0...22).map { power in
        (0..<power).reduce(1.0) { value, _ in value * 10 }
    }

    /// Whether the input's bytes at `lhs` sort strictly before those at `rhs` (UTF-8 byte order).
    func precedes(_ lhs: Range<Int>, _ rhs: Range<Int>) -> Bool {
        let common = min(lhs.count, rhs.count)
        guard common > 0, let base = bytes.baseAddress else { return lhs.count < rhs.count }
        let order = memcmp(base + lhs.lowerBound, base + rhs.lowerBound, common)
        return order < 0 || (order == 0 && lhs.count < rhs.count)
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
