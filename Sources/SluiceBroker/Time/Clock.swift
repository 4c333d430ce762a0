#if canImport(Glibc)
    import Glibc
#endif

/// Time as the broker needs it: a monotonic clock for latencies and deadlines, and wall-clock
/// timestamps fixed at admission (RFC 3339, UTC, milliseconds) for the command log.
enum Clock {
    /// Nanoseconds on the monotonic clock.
    static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Now as `2026-11-23T12:34:56.789Z`.
    static func timestamp() -> String { now().text }

    /// Now as text (`2026-11-23T12:34:56.789Z`) and as milliseconds since 1970, the same instant.
    static func now() -> (text: String, milliseconds: Int64) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let milliseconds = Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec / 1_000_000)
        return (format(spec), milliseconds)
    }

    /// ``now()``, formatting the text only when the millisecond changed since `last` (which it
    /// updates): under load many commands are admitted within one millisecond.
    static func now(reusing last: inout (text: String, milliseconds: Int64)) -> (text: String, milliseconds: Int64) {
        let milliseconds = wallMilliseconds()
        if milliseconds != last.milliseconds { last = (text(milliseconds: milliseconds), milliseconds) }
        return last
    }

    /// Wall-clock milliseconds since 1970, without formatting (`text(milliseconds:)` later).
    static func wallMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec / 1_000_000)
    }

    /// The timestamp text of `milliseconds` since 1970, as ``now()`` writes it.
    static func text(milliseconds: Int64) -> String {
        format(timespec(tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000))
    }

    /// Milliseconds since 1970 of a timestamp written by ``now()``; nil for anything else.
    /// (Digits read in place: a replay runs this once per logged command.)
    static func milliseconds(fromTimestamp text: String) -> Int64? {
        var text = text
        return text.withUTF8 { milliseconds(fromTimestamp: $0) }
    }

    private static func milliseconds(fromTimestamp bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard bytes.count == 24, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54, bytes[13] == 0x3A,
            bytes[16] == 0x3A,
            bytes[19] == 0x2E, bytes[23] == 0x5A
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for index in range {
                guard bytes[index] >= 0x30, bytes[index] <= 0x39 else { return nil }
                value = value * 10 + Int32(bytes[index] - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19), let millisecond = number(20..<23)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int64(timegm(&parts)) * 1000 + Int64(millisecond)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit into the string's own storage (this
    /// runs once per admitted command: no intermediate strings).
    private static func format(_ spec: timespec) -> String {
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let milliseconds = Int(spec.tv_nsec / 1_000_000)
        return String(unsafeUninitializedCapacity: 24) { buffer in
            func digits(_ value: Int, _ width: Int, at offset: Int) {
                var value = value
                for position in stride(from: offset + width - 1, through: offset, by: -1) {
                    buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            digits(Int(parts.tm_year) + 1900, 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            digits(Int(parts.tm_mon) + 1, 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            digits(Int(parts.tm_mday), 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            digits(Int(parts.tm_hour), 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            digits(Int(parts.tm_min), 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            digits(Int(parts.tm_sec), 2, at: 17)
            buffer[19] = UInt8(ascii: ".")
            digits(milliseconds, 3, at: 20)
            buffer[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}
