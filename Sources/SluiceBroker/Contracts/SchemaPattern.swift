import Foundation

/// A schema's `pattern`: an ECMA-262-style regular expression, searched (not anchored) in the
/// string, as JSON Schema specifies. Compiled once when the contract loads.
struct SchemaPattern: @unchecked Sendable {
    // NSRegularExpression is immutable after creation and documented as thread safe for matching.
    let source: String
    private let expression: NSRegularExpression

    init?(_ source: String) {
        guard let expression = try? NSRegularExpression(pattern: source) else { return nil }
        self.source = source
        self.expression = expression
    }

    func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

extension InputSchema {
    /// `8-4-4-4-12` hexadecimal digits (RFC 4122 text form, either case).
    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                let isHex =
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
                guard isHex else { return false }
            }
        }
        return true
    }

    /// RFC 3339 `date-time`: `2026-11-23T12:34:56Z`, optional fraction, `Z` or `±hh:mm`, with the
    /// fields in range (month 1–12, day 1–31, hour 0–23, minute 0–59, second 0–60).
    static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                guard bytes[index] >= 0x30, bytes[index] <= 0x39 else { return nil }
                value = value * 10 + Int(bytes[index] - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, digits(0..<4) != nil, bytes[4] == 0x2D, let month = digits(5..<7), bytes[7] == 0x2D,
            let day = digits(8..<10), bytes[10] == 0x54 || bytes[10] == 0x74, let hour = digits(11..<13),
            bytes[13] == 0x3A,
            let minute = digits(14..<16), bytes[16] == 0x3A, let second = digits(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60
        else { return false }
        var index = 19
        if bytes[index] == 0x2E {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > start else { return false }
        }
        guard index < bytes.count else { return false }
        if bytes[index] == 0x5A || bytes[index] == 0x7A { return index + 1 == bytes.count }
        guard bytes[index] == 0x2B || bytes[index] == 0x2D, index + 6 == bytes.count,
            let offsetHour = digits((index + 1)..<(index + 3)),
            bytes[index + 3] == 0x3A, let offsetMinute = digits((index + 4)..<(index + 6))
        else { return false }
        return offsetHour < 24 && offsetMinute < 60
    }
}
