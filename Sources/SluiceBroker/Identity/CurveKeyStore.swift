public import Foundation
public import SluiceZMQ

/// CURVE keys for tcp endpoints, in `<data-dir>/curve/` (mode 0700):
///
/// ```
/// curve/broker.key              the broker's long-term key pair (0600), made on first use
/// curve/local.key               the operator's client key pair (0600), registered as `local`
/// curve/authorized/<id>.pub     the public key registered for identity <id>
/// curve/revoked/<id>.<ms>.pub   a key revoked at <ms> (Unix milliseconds)
/// curve/revocations.log         one JSON line per revocation, appended and fsync'ed
/// ```
///
/// On tcp an identity is the public key registered for it: the ZAP handler reads the registry at
/// every handshake, so an added key works and a revoked key is refused from the next connection,
/// without a restart. Keys are ZeroMQ's own (libzmq generates and checks them).
public struct CurveKeyStore: Sendable {
    public let directory: URL

    public init(dataDirectory: URL) {
        directory = dataDirectory.appendingPathComponent("curve")
    }

    var authorizedDirectory: URL { directory.appendingPathComponent("authorized") }
    var revokedDirectory: URL { directory.appendingPathComponent("revoked") }
    public var brokerKeyFile: URL { directory.appendingPathComponent("broker.key") }
    public var operatorKeyFile: URL { directory.appendingPathComponent("local.key") }

    /// A registered key and its state, for `sluice keys list`.
    public struct Entry: Sendable, Equatable {
        public var id: String
        public var publicKey: String
        /// When it was revoked (Unix milliseconds), or nil while it is valid.
        public var revokedAtMs: Int64?
    }

    /// Refusals of `add` and `revoke`, naming what is wrong.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// The broker's key pair, created (durably, 0600) on first use.
    public func brokerKeyPair() throws -> ZMQCurve.KeyPair {
        try loadOrCreate(brokerKeyFile, comment: "the Sluice broker's CURVE key pair: keep secret-key private")
    }

    /// The operator's client key pair, created on first use and registered as `local`, so `sluice`
    /// commands on the broker's host connect over tcp as the operator.
    @discardableResult
    public func operatorKeyPair() throws -> ZMQCurve.KeyPair {
        let pair = try loadOrCreate(operatorKeyFile, comment: "the operator's (local) CURVE client key pair")
        if registeredKey(of: TokenStore.operatorName) != pair.publicKey {
            try write(publicKey: pair.publicKey, for: TokenStore.operatorName)
        }
        return pair
    }

    /// Registers `publicKey` (Z85) as identity `id`'s. Refused when the text is not a key, when
    /// another identity holds that key (one key, one identity) or when `id` already has a key
    /// (revoke it first: a silent replacement would hide a key change from the audit).
    public func add(id: String, publicKey: String) throws {
        guard TokenStore.isValidName(id) else {
            throw Refusal(description: "'\(id)' is not an identity name ([a-z0-9-], at most 64 characters)")
        }
        guard ZMQCurve.decode(publicKey) != nil else {
            throw Refusal(description: "'\(publicKey)' is not a CURVE public key (40 characters of Z85)")
        }
        if let holder = list().first(where: { $0.revokedAtMs == nil && $0.publicKey == publicKey }) {
            throw Refusal(description: "that key is already registered for \(holder.id)")
        }
        if registeredKey(of: id) != nil {
            throw Refusal(description: "\(id) already has a key; revoke it first (sluice keys revoke \(id))")
        }
        if list().contains(where: { $0.revokedAtMs != nil && $0.publicKey == publicKey }) {
            throw Refusal(description: "that key was revoked; generate a new one")
        }
        try write(publicKey: publicKey, for: id)
    }

    /// Revokes `id`'s key: it moves to `revoked/` and a line is appended to `revocations.log`
    /// (both durable before this returns). The next handshake with it is refused. Returns the key.
    @discardableResult
    public func revoke(id: String) throws -> String {
        guard let key = registeredKey(of: id) else { throw Refusal(description: "\(id) has no registered key") }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        try DurableFile.createDirectory(revokedDirectory)
        try DurableFile.write(
            Data(ZMQCurve.keyFileText(.init(publicKey: key, secretKey: ""), includingSecret: false, comment: "revoked \(id)").utf8),
            to: revokedDirectory.appendingPathComponent("\(id).\(nowMs).pub"))
        try FileManager.default.removeItem(at: authorizedDirectory.appendingPathComponent("\(id).pub"))
        try DurableFile.syncDirectory(authorizedDirectory)
        let line = "{\"id\":\"\(id)\",\"public_key\":\"\(key)\",\"revoked_at_ms\":\(nowMs)}\n"
        try DurableFile.append(Data(line.utf8), to: directory.appendingPathComponent("revocations.log"))
        return key
    }

    /// Every registered and revoked key, by identity.
    public func list() -> [Entry] {
        var entries: [Entry] = []
        for (url, name) in files(in: authorizedDirectory) {
            guard let key = try? ZMQCurve.readKeyFile(url).publicKey else { continue }
            entries.append(Entry(id: String(name.dropLast(4)), publicKey: key, revokedAtMs: nil))
        }
        for (url, name) in files(in: revokedDirectory) {
            let parts = name.dropLast(4).split(separator: ".")
            guard parts.count == 2, let at = Int64(parts[1]), let key = try? ZMQCurve.readKeyFile(url).publicKey else {
                continue
            }
            entries.append(Entry(id: String(parts[0]), publicKey: key, revokedAtMs: at))
        }
        return entries.sorted { ($0.id, $0.revokedAtMs ?? .max) < ($1.id, $1.revokedAtMs ?? .max) }
    }

    /// The identity whose registered (unrevoked) key is `key` (32 bytes, as ZAP presents it).
    func identity(for key: [UInt8]) -> String? {
        guard let text = ZMQCurve.encode(key) else { return nil }
        for (url, name) in files(in: authorizedDirectory) {
            if (try? ZMQCurve.readKeyFile(url).publicKey) == text { return String(name.dropLast(4)) }
        }
        return nil
    }

    /// The identity a revoked `key` belonged to, for the refusal's audit record.
    func revokedIdentity(for key: [UInt8]) -> String? {
        guard let text = ZMQCurve.encode(key) else { return nil }
        return list().first { $0.revokedAtMs != nil && $0.publicKey == text }?.id
    }

    func registeredKey(of id: String) -> String? {
        guard TokenStore.isValidName(id) else { return nil }
        return try? ZMQCurve.readKeyFile(authorizedDirectory.appendingPathComponent("\(id).pub")).publicKey
    }

    private func write(publicKey: String, for id: String) throws {
        try DurableFile.createDirectory(authorizedDirectory)
        try DurableFile.write(
            Data(ZMQCurve.keyFileText(.init(publicKey: publicKey, secretKey: ""), includingSecret: false, comment: id).utf8),
            to: authorizedDirectory.appendingPathComponent("\(id).pub"))
    }

    private func loadOrCreate(_ url: URL, comment: String) throws -> ZMQCurve.KeyPair {
        if FileManager.default.fileExists(atPath: url.path) {
            let (publicKey, secretKey) = try ZMQCurve.readKeyFile(url)
            guard let secretKey else { throw Refusal(description: "\(url.path) has no secret-key line") }
            return ZMQCurve.KeyPair(publicKey: publicKey, secretKey: secretKey)
        }
        let pair = try ZMQCurve.generateKeyPair()
        try DurableFile.createDirectory(directory)
        try DurableFile.write(Data(ZMQCurve.keyFileText(pair, includingSecret: true, comment: comment).utf8), to: url)
        return pair
    }

    private func files(in folder: URL) -> [(URL, String)] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".pub") }
            .sorted().map { (folder.appendingPathComponent($0), $0) }
    }
}
