#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// UUIDs in lowercase text — random ones (RFC 4122 version 4) and time-ordered ones (RFC 9562
/// version 7) — without going through Foundation's NSUUID (which costs several allocations per id
/// on Linux; the broker makes one per command).
public enum RandomIdentifier {
    public static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
        return uuid(using: &generator)
    }

    /// A UUID from `generator` (the broker's I/O thread passes a ``BufferedRandom``: one system
    /// call per 256 ids instead of one or two per id).
    public static func uuid(using generator: inout some RandomNumberGenerator) -> String {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return text(high: (high & ~0xF000) | 0x4000, low: variant10(low))  // version 4: the 13th hex digit
    }

    /// A version 7 UUID: the Unix time in milliseconds in its first 48 bits, then 74 random bits.
    /// One made later sorts after one made earlier (to the millisecond, as text too), so a B-tree
    /// over such ids grows at its right edge instead of at a random page. The clients' default
    /// idempotency keys: where a key lands in the broker's ledger index decides how many pages a
    /// commit writes (docs/benchmarks.md, "Twelfth round").
    public static func timeOrderedUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        return timeOrderedUUID(using: &generator)
    }

    /// A version 7 UUID for now, its random bits from `generator` (a client passes its
    /// ``BufferedRandom``: no system call per key).
    public static func timeOrderedUUID(using generator: inout some RandomNumberGenerator) -> String {
        timeOrderedUUID(milliseconds: unixMilliseconds(), using: &generator)
    }

    /// A version 7 UUID for `milliseconds` since the Unix epoch (the low 48 bits are kept).
    public static func timeOrderedUUID(milliseconds: UInt64, using generator: inout some RandomNumberGenerator)
        -> String
    {
        let random = generator.next() as UInt64
        let high = (milliseconds & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (random & 0x0FFF)  // version 7
        return text(high: high, low: variant10(generator.next()))
    }

    /// The wall clock, in milliseconds since the Unix epoch.
    static func unixMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec / 1_000_000)
    }

    /// Variant 10: the top bits of the 17th hex digit.
    private static func variant10(_ low: UInt64) -> UInt64 { (low & ~(0xC << 60)) | (0x8 << 60) }

    /// The UUID whose 128 bits are `high` then `low`, as 36 characters of lowercase text (8-4-4-4-12
    /// hex digits). (The benchmarks shape their deterministic keys with it too.)
    public static func text(high: UInt64, low: UInt64) -> String {
        // 32 hex digits, most significant first, with dashes after the 8th, 12th, 16th and 20th:
        // written straight into the string's storage (no byte array, no digit table).
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            for digit in 0..<32 {
                if digit == 8 || digit == 12 || digit == 16 || digit == 20 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = digit < 16 ? high : low
                let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * (digit % 16))) & 0x0F
                buffer[position] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble  // 0-9, a-f
                position += 1
            }
            return position
        }
    }
}

/// The system's cryptographic random bytes, fetched 4 KiB at a time (one `getrandom` per 512
/// values) and handed out as `UInt64`s. For one thread: it is a value type, not shared.
public struct BufferedRandom: RandomNumberGenerator {
    private var buffer: [UInt64] = Array(repeating: 0, count: 512)
    private var position = 512

    public init() {}

    public mutating func next() -> UInt64 {
        if position == buffer.count {
            buffer.withUnsafeMutableBytes { BufferedRandom.fill($0) }
            position = 0
        }
        defer { position += 1 }
        return buffer[position]
    }
}

extension BufferedRandom {
    /// Fills `bytes` from the kernel's random source (`/dev/urandom`) in one read (falling back
    /// to the standard generator, a system call per 8 bytes, where that is unavailable).
    static func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        var offset = 0
        #if canImport(Glibc)
            let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            if descriptor >= 0 {
                defer { close(descriptor) }
                while offset < bytes.count {
                    let got = read(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if got > 0 {
                        offset += got
                    } else if got < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
            }
        #endif
        var system = SystemRandomNumberGenerator()
        while offset < bytes.count {
            bytes[offset] = UInt8(truncatingIfNeeded: system.next() as UInt64)
            offset += 1
        }
    }
}
