#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension JSONValue {
    /// The canonical encoding: object members sorted by key (byte order of their UTF-8), no
    /// insignificant whitespace, integers without a fraction, strings escaped minimally.
    /// Two payloads that differ only in key order or spacing encode to the same bytes, which is
    /// what idempotency hashing relies on.
    public func canonicalBytes() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        append(to: &output)
        return output
    }

    /// The canonical encoding as a string.
    public var canonicalString: String { String(decoding: canonicalBytes(), as: UTF8.self) }

    public func append(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): JSONValue.appendInteger(value, to: &output)
        case .double(let value): JSONValue.appendDouble(value, to: &output)
        case .decimal(let text): output.append(contentsOf: text.utf8)
        case .string(let value): JSONValue.appendString(value, to: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (position, item) in items.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                item.append(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (position, member) in members.members.enumerated() {  // already in UTF-8 order
                if position > 0 { output.append(UInt8(ascii: ",")) }
                JSONValue.appendString(member.name, to: &output)
                output.append(UInt8(ascii: ":"))
                member.value.append(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits of `value`, written in place (no intermediate String).
    public static func appendInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        guard magnitude >= 10 else {
            output.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 19 digits at most, filled from the end
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                count += 1
                buffer[buffer.count - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            output.append(contentsOf: buffer[(buffer.count - count)...])
        }
    }

    static func appendDouble(_ value: Double, to output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        output.append(contentsOf: value.description.utf8)
    }

    /// Byte-wise UTF-8 order (the same as code point order), compared without a generic iterator.
    public static func utf8Precedes(_ lhs: String, _ rhs: String) -> Bool {
        utf8Order(lhs, rhs) < 0
    }

    /// Below 0 when `lhs` sorts before `rhs` in UTF-8 byte order (code point order), 0 when they
    /// are the same code points, above 0 after: where a walk needs both "before" and "the same",
    /// one comparison instead of two.
    public static func utf8Order(_ lhs: String, _ rhs: String) -> Int {
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                if order != 0 { return Int(order) }
                return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
            }
        }
    }

    public static func appendString(_ value: String, to output: inout [UInt8]) {
        var value = value
        value.withUTF8 { appendString(utf8: $0, to: &output) }
    }

    /// The string whose UTF-8 encoding is `bytes` (which must be valid UTF-8), encoded.
    public static func appendString(utf8 bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            default:
                output.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        output.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
