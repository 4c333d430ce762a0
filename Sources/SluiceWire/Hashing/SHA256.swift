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
        digest.withUnsafeBytes { hex($0) }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ digest: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: digest.count * 2) { buffer in
            for (index, byte) in digest.enumerated() {
                buffer[index * 2] = hexDigits[Int(byte >> 4)]
                buffer[index * 2 + 1] = hexDigits[Int(byte & 0x0F)]
            }
            return digest.count * 2
        }
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if handled == nil { Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) } }
    }

    /// ``update(_:)`` for the common case, without going through the generic one (which, across
    /// modules, reaches the bytes through protocol witnesses).
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    }

    /// The UTF-8 bytes of `text`, without copying them out first.
    public mutating func update(utf8 text: String) {
        var text = text
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    public mutating func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// The digest as 64 lowercase hex characters, without an intermediate array.
    public mutating func finalizeHex() -> String {
        hasher.finalize().withUnsafeBytes { SHA256.hex($0) }
    }

    /// HMAC-SHA-256 (RFC 2104) of `message` under `key`.
    public static func hmac(key: [UInt8], message: some Sequence<UInt8>) -> [UInt8] {
        Array(HMAC<Crypto.SHA256>.authenticationCode(for: Array(message), using: SymmetricKey(data: key)))
    }
}
