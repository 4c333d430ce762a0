/// A schema's `pattern`: an ECMA-262 regular expression (the dialect JSON Schema names),
/// searched (not anchored) in the string, matched in linear time (``ECMARegex``). Compiled once
/// when the contract loads; a pattern ECMA-262 refuses, or one that needs backtracking
/// (backreferences, lookaround), is a load error.
struct SchemaPattern: Sendable {
    let source: String
    private let expression: ECMARegex

    init(_ source: String) throws(ECMARegex.SyntaxError) {
        self.source = source
        expression = try ECMARegex(source)
    }

    func matches(_ text: String) -> Bool { expression.matches(text) }
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
    /// fields in range and the date on the calendar (no February 29 outside leap years); second
    /// 60 only as a leap second, i.e. at 23:59 UTC.
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
        guard bytes.count >= 20, let year = digits(0..<4), bytes[4] == 0x2D, let month = digits(5..<7),
            bytes[7] == 0x2D, let day = digits(8..<10), bytes[10] == 0x54 || bytes[10] == 0x74,
            let hour = digits(11..<13), bytes[13] == 0x3A, let minute = digits(14..<16), bytes[16] == 0x3A,
            let second = digits(17..<19), (1...12).contains(month),
            (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60, second <= 60
        else { return false }
        var index = 19
        if bytes[index] == 0x2E {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > start else { return false }
        }
        guard index < bytes.count else { return false }
        var offsetMinutes = 0
        if bytes[index] == 0x5A || bytes[index] == 0x7A {
            guard index + 1 == bytes.count else { return false }
        } else {
            guard bytes[index] == 0x2B || bytes[index] == 0x2D, index + 6 == bytes.count,
                let offsetHour = digits((index + 1)..<(index + 3)),
                bytes[index + 3] == 0x3A, let offsetMinute = digits((index + 4)..<(index + 6)),
                offsetHour < 24, offsetMinute < 60
            else { return false }
            offsetMinutes = (offsetHour * 60 + offsetMinute) * (bytes[index] == 0x2B ? 1 : -1)
        }
        guard second == 60 else { return true }
        // A leap second is inserted at the end of a UTC day: 23:59:60 UTC.
        let utcMinuteOfDay = ((hour * 60 + minute - offsetMinutes) % 1440 + 1440) % 1440
        return utcMinuteOfDay == 23 * 60 + 59
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
