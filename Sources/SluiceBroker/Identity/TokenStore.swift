public import Foundation
import SluiceWire

/// Per-identity secrets in `<data-dir>/tokens/<name>.token` (mode 0600, directory 0700).
///
/// A client proves who it is by presenting its name and token in the PLAIN handshake of its
/// connection; the broker never trusts a name written in a message. `local` is the operator (the
/// data directory's owner); plugins get a token of their own when they are installed.
public struct TokenStore: Sendable {
    public static let operatorName = "local"

    public let directory: URL

    public init(dataDirectory: URL) {
        directory = dataDirectory.appendingPathComponent("tokens")
    }

    /// Names are `local` or plugin ids: `[a-z0-9-]`, so no name can reach outside the directory.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    public func url(for name: String) -> URL { directory.appendingPathComponent("\(name).token") }

    /// The token of `name`, creating it (random, 256 bits) when missing.
    @discardableResult
    public func ensureToken(for name: String) throws -> String {
        precondition(TokenStore.isValidName(name), "invalid identity name \(name)")
        if let existing = token(for: name) { return existing }
        try DurableFile.createDirectory(directory)
        var generator = SystemRandomNumberGenerator()
        let token = SHA256.hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        // Durable before anyone is told it: a token that a power cut replaced would lock out
        // every client that already read it.
        try DurableFile.write(Data((token + "\n").utf8), to: url(for: name))
        return token
    }

    /// Replaces `name`'s token with a fresh one (durably, before it returns) and returns it. The
    /// broker reads tokens at every handshake: the old token is refused from the next connection
    /// on; connections already open stay until they close.
    @discardableResult
    public func rotateToken(for name: String) throws -> String {
        guard TokenStore.isValidName(name), token(for: name) != nil else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: url(for: name).path])
        }
        var generator = SystemRandomNumberGenerator()
        let fresh = SHA256.hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try DurableFile.write(Data((fresh + "\n").utf8), to: url(for: name))
        return fresh
    }

    public func token(for name: String) -> String? {
        guard TokenStore.isValidName(name), let text = try? String(contentsOf: url(for: name), encoding: .utf8) else {
            return nil
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    /// A disabled identity (`<name>.disabled` beside its token: its plugin is disabled) is
    /// refused at the handshake whatever it presents; its token stays for when it is enabled.
    public func isDisabled(_ name: String) -> Bool {
        TokenStore.isValidName(name)
            && FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(name).disabled").path)
    }

    /// Disables or enables `name` (durably, before it returns).
    public func setDisabled(_ name: String, _ disabled: Bool) throws {
        precondition(TokenStore.isValidName(name), "invalid identity name \(name)")
        let marker = directory.appendingPathComponent("\(name).disabled")
        if disabled {
            try DurableFile.createDirectory(directory)
            try DurableFile.write(Data(), to: marker)
        } else if FileManager.default.fileExists(atPath: marker.path) {
            try FileManager.default.removeItem(at: marker)
            try DurableFile.syncDirectory(directory)
        }
    }

    /// Deletes `name`'s token (and its disabled mark): refused from its next connection on.
    public func revoke(_ name: String) throws {
        precondition(TokenStore.isValidName(name) && name != TokenStore.operatorName, "cannot revoke \(name)")
        for file in ["\(name).token", "\(name).disabled"] {
            let url = directory.appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        }
        try DurableFile.syncDirectory(directory)
    }

    /// Whether `presented` is `name`'s token, compared in constant time; never for a disabled
    /// identity.
    public func verify(name: String, presented: [UInt8]) -> Bool {
        guard !isDisabled(name), let expected = token(for: name).map({ Array($0.utf8) }), expected.count == presented.count else {
            return false
        }
        var difference: UInt8 = 0
        for (left, right) in zip(expected, presented) { difference |= left ^ right }
        return difference == 0
    }
}
