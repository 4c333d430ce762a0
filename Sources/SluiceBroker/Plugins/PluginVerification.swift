import Crypto
public import Foundation
import SluiceWire

/// What install and upgrade check of a plugin folder before anything is copied (the plugin
/// architecture document's checks): no group- or world-writable file or folder and no symbolic
/// link (someone else could change the plugin after it was checked, or the copy could reach
/// outside the folder); and, once the operator trusts signing keys, an Ed25519 signature over
/// every file of the plugin by one of them. The broker-version range is checked where every
/// manifest is loaded (``ContractRegistry/loadPlugin(directory:)``).
public enum PluginVerification {
    /// The signature's file in a plugin folder: the base64 of a 64-byte Ed25519 signature of
    /// ``signedText(of:)``.
    public static let signatureFile = "plugin.sig"

    /// A plugin that must not be installed, and why.
    public struct Refused: Error, CustomStringConvertible, Equatable {
        public var reason: String
        public var description: String { reason }
    }

    /// Refuses group- or world-writable entries and symbolic links anywhere in `folder`.
    public static func checkFiles(_ folder: URL) throws(Refused) {
        for entry in [""] + entries(of: folder) {
            let path = entry.isEmpty ? folder.path : folder.appendingPathComponent(entry).path
            var status = stat()
            guard lstat(path, &status) == 0 else { throw Refused(reason: "cannot read \(path)") }
            if status.st_mode & S_IFMT == S_IFLNK {
                throw Refused(reason: "\(path) is a symbolic link; a plugin folder holds only its own files")
            }
            if status.st_mode & (S_IWGRP | S_IWOTH) != 0 {
                throw Refused(
                    reason:
                        "\(path) is writable by \(status.st_mode & S_IWOTH != 0 ? "everyone" : "its group"): someone else could change the plugin after it is checked (chmod go-w)"
                )
            }
        }
    }

    /// What is signed: a first line `sluice-plugin-signature-v1`, then one line per regular file
    /// but `plugin.sig` and what is under `retained-contracts/` (the broker's, kept by an upgrade;
    /// never taken from a plugin folder), sorted by path: the SHA-256 in lowercase hex, two spaces, the path
    /// relative to the folder with `/` separators. Each line ends with `\n`.
    public static func signedText(of folder: URL) throws(Refused) -> [UInt8] {
        var text = "sluice-plugin-signature-v1\n"
        for path in entries(of: folder).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        where path != signatureFile && !path.hasPrefix(PluginCatalog.retainedFolder + "/") {
            let url = folder.appendingPathComponent(path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw Refused(reason: "cannot read \(url.path)")
            }
            text += "\(SHA256.hexDigest(data))  \(path)\n"
        }
        return Array(text.utf8)
    }

    /// Writes `folder/plugin.sig`: the signature of the folder's files with `privateKey` (the raw
    /// 32-byte Ed25519 private key, base64).
    public static func sign(_ folder: URL, privateKey: String) throws {
        guard let raw = Data(base64Encoded: privateKey.trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw Refused(reason: "not an Ed25519 private key (base64 of 32 bytes; sluice plugins signing-key generate)")
        }
        let signature = try key.signature(for: signedText(of: folder))
        try Data((signature.base64EncodedString() + "\n").utf8).write(
            to: folder.appendingPathComponent(signatureFile))
    }

    /// With trusted keys (name → base64 public key), the folder's `plugin.sig` must verify with
    /// one of them; without, there is nothing to check. Returns the name of the key that signed.
    @discardableResult
    public static func verifySignature(_ folder: URL, trustedKeys: [String: String]) throws(Refused) -> String? {
        guard !trustedKeys.isEmpty else { return nil }
        let url = folder.appendingPathComponent(signatureFile)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Refused(
                reason:
                    "the broker trusts signing keys (\(trustedKeys.keys.sorted().joined(separator: ", "))) and \(folder.lastPathComponent) has no \(signatureFile): sign it with `sluice plugins sign`"
            )
        }
        guard let signature = Data(base64Encoded: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw Refused(reason: "\(url.path) is not a base64 signature")
        }
        let text = try signedText(of: folder)
        for (name, publicKey) in trustedKeys.sorted(by: { $0.key < $1.key }) {
            guard let raw = Data(base64Encoded: publicKey),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else { continue }
            if key.isValidSignature(signature, for: text) { return name }
        }
        throw Refused(
            reason:
                "\(url.path) does not verify with any trusted key (\(trustedKeys.keys.sorted().joined(separator: ", "))): the files changed since they were signed, or another key signed them"
        )
    }

    /// Every path under `folder`, relative, files and folders.
    private static func entries(of folder: URL) -> [String] {
        (FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String]) ?? []
    }
}

/// The Ed25519 public keys the operator trusts to sign plugins: `<data-dir>/trusted-keys/<name>.pub`
/// (base64 of the 32-byte key). None: plugins need no signature.
public struct TrustedSigningKeys: Sendable {
    public let directory: URL

    public init(dataDirectory: URL) { directory = dataDirectory.appendingPathComponent("trusted-keys") }

    /// Name → base64 public key.
    public func all() throws -> [String: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var keys: [String: String] = [:]
        for file in names where file.hasSuffix(".pub") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            keys[String(file.dropLast(4))] = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return keys
    }

    /// Trusts `publicKey` (base64 of a 32-byte Ed25519 public key) under `name`.
    public func add(name: String, publicKey: String) throws {
        guard TokenStore.isValidName(name) else {
            throw PluginVerification.Refused(reason: "a key name is [a-z0-9-], at most 64 characters")
        }
        guard let raw = Data(base64Encoded: publicKey), (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil
        else {
            throw PluginVerification.Refused(reason: "not an Ed25519 public key (base64 of 32 bytes)")
        }
        try DurableFile.createDirectory(directory)
        try DurableFile.write(Data((publicKey + "\n").utf8), to: directory.appendingPathComponent("\(name).pub"))
    }

    /// Stops trusting `name`'s key; false when there was none.
    public func remove(name: String) throws -> Bool {
        let url = directory.appendingPathComponent("\(name).pub")
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        try FileManager.default.removeItem(at: url)
        try DurableFile.syncDirectory(directory)
        return true
    }

    /// A new Ed25519 key pair, both base64 (raw representations).
    public static func generate() -> (privateKey: String, publicKey: String) {
        let key = Curve25519.Signing.PrivateKey()
        return (key.rawRepresentation.base64EncodedString(), key.publicKey.rawRepresentation.base64EncodedString())
    }
}
