#if canImport(Glibc)
    import Glibc
#endif

/// Random RFC 4122 version 4 UUIDs in lowercase text, without going through Foundation's NSUUID
/// (which costs several allocations per id on Linux; the broker makes one per command).
public enum RandomIdentifier {
    public static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
        return uuid(using: &generator)
    }

    /// A UUID from `generator` (the broker's I/O thread passes a ``BufferedRandom``: one system
    /// call per 256 ids instead of one or two per id).
    public static func uuid(using generator: inout some RandomNumberGenerator) -> String {
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000  // version 4: the 13th hex digit
        low = (low & ~(0xC << 60)) | (0x8 << 60)  // variant 10: the top bits of the 17th
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
