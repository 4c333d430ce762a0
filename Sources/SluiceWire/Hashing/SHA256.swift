import Crypto

/// SHA-256 and HMAC-SHA-256 for the broker: fingerprints of canonical payloads (the idempotency
/// ledger), migration and projection checksums, and keyed redactions in audit events.
///
/// The digests are apple/swift-crypto's (BoringSSL's implementation on Linux); this type keeps
/// the small API the rest of the code uses (hex digests, incremental hashing). The test vectors
/// (FIPS 180-4 for SHA-256, RFC 4231 for HMAC) are in `SluiceWireTests`.
public struct SHA256 {
    private var hasher = Crypto.SHA256()

    public init() {}

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of `bytes` as 64 lowercase hex characters.
    public static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        hex(hash(bytes))
    }

    /// A digest as lowercase hex characters.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: digest.count * 2) { buffer in
            for (index, byte) in digest.enumerated() {
                buffer[index * 2] = digits[Int(byte >> 4)]
                buffer[index * 2 + 1] = digits[Int(byte & 0x0F)]
            }
            return digest.count * 2
        }
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if handled == nil { Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) } }
    }

    public mutating func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// HMAC-SHA-256 (RFC 2104) of `message` under `key`.
    public static func hmac(key: [UInt8], message: some Sequence<UInt8>) -> [UInt8] {
        Array(HMAC<Crypto.SHA256>.authenticationCode(for: Array(message), using: SymmetricKey(data: key)))
    }
}
