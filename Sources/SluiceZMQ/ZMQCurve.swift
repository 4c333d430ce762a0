import CZeroMQ
public import Foundation

/// CurveZMQ keys (ZeroMQ's CURVE mechanism, RFC 26): 32-byte Curve25519 keys, written as 40
/// characters of Z85 (RFC 32). Key generation and encoding are libzmq's; this only wraps them.
public enum ZMQCurve {
    /// A key pair, both halves in Z85.
    public struct KeyPair: Sendable, Equatable {
        public var publicKey: String
        public var secretKey: String

        public init(publicKey: String, secretKey: String) {
            self.publicKey = publicKey
            self.secretKey = secretKey
        }
    }

    /// Whether this libzmq was built with CURVE (libsodium or its own TweetNaCl).
    public static var isAvailable: Bool { zmq_has("curve") == 1 }

    /// A fresh key pair from libzmq's random source. Its public key never starts with `-`: people
    /// pass public keys as command-line arguments (`--server-key K`, `keys add id K`), where a
    /// leading `-` reads as an option (a CLI test met one: 1 key in 85).
    public static func generateKeyPair() throws(ZMQError) -> KeyPair {
        while true {
            var publicKey = [CChar](repeating: 0, count: 41)
            var secretKey = [CChar](repeating: 0, count: 41)
            guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
            let pair = KeyPair(
                publicKey: String(decoding: publicKey.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self),
                secretKey: String(decoding: secretKey.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            if !pair.publicKey.hasPrefix("-") { return pair }
        }
    }

    /// The 32 bytes a Z85 key stands for, or nil when `text` is not a 40-character Z85 key.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count == 40, characters.allSatisfy({ z85Alphabet.contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        let decoded = text.withCString { zmq_z85_decode(&bytes, $0) }
        return decoded == nil ? nil : bytes
    }

    /// The Z85 text of a 32-byte key.
    public static func encode(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, key, 32) != nil else { return nil }
        return String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static let z85Alphabet = Set(
        Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8))

    /// A key file: `public-key = <z85>` and, for a secret key file, `secret-key = <z85>`, one per
    /// line; `#` starts a comment. `sluice keys generate` writes them.
    public static func readKeyFile(_ url: URL) throws -> (publicKey: String, secretKey: String?) {
        let text = try String(contentsOf: url, encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            values[trimmed[..<equals].trimmingCharacters(in: .whitespaces)] =
                trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        guard let publicKey = values["public-key"], decode(publicKey) != nil else {
            throw KeyFileError(path: url.path, reason: "no valid 'public-key = <40 characters of Z85>' line")
        }
        if let secretKey = values["secret-key"] {
            guard decode(secretKey) != nil else {
                throw KeyFileError(path: url.path, reason: "'secret-key' is not 40 characters of Z85")
            }
            return (publicKey, secretKey)
        }
        return (publicKey, nil)
    }

    /// The text of a key file for `pair` (with its secret) or for its public half only.
    public static func keyFileText(_ pair: KeyPair, includingSecret: Bool, comment: String) -> String {
        var text = "# \(comment)\npublic-key = \(pair.publicKey)\n"
        if includingSecret { text += "secret-key = \(pair.secretKey)\n" }
        return text
    }

    public struct KeyFileError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }
}
