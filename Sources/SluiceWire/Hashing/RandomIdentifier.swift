#if canImport(Glibc)
    import Glibc
#endif

/// Random RFC 4122 version 4 UUIDs in lowercase text, without going through Foundation's NSUUID
/// (which costs several allocations per id on Linux; the broker makes one per command).
public enum RandomIdentifier {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
        return uuid(using: &generator)
    }

    /// A UUID from `generator` (the broker's I/O thread passes a ``BufferedRandom``: one system
    /// call per 256 ids instead of one or two per id).
    public static func uuid(using generator: inout some RandomNumberGenerator) -> String {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                buffer[position] = hexDigits[Int(byte >> 4)]
                buffer[position + 1] = hexDigits[Int(byte & 0x0F)]
                position += 2
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
