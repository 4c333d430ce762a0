/// A cursor over a header written plainly — no whitespace, strings without escapes or control
/// characters — for the readers that take such headers without the JSON parser
/// (``PlainCommandHeader``, ``ReceivedMessage/plainReplyHeader(_:)``). Each step either reads what
/// it expects or reports that the bytes are not plain; the parser reads whatever is not.
struct PlainReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    var atEnd: Bool { index == bytes.count }

    mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// A string's contents when it has no escape and no control character.
    mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return UnsafeBufferPointer(rebasing: bytes[start..<index - 1])
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    /// Digits without a leading zero, sign, fraction or exponent, from 1 to `limit`.
    mutating func positiveInteger(atMost limit: Int) -> Int? {
        var value = 0
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            guard index - start < 9 else { return nil }
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard index > start, bytes[start] != UInt8(ascii: "0"), value <= limit else { return nil }
        // A number goes on with `.`, `e` or `E` when it has a fraction or an exponent.
        if index < bytes.count,
            bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")
        {
            return nil
        }
        return value
    }
}
