import SluiceWire

/// How much of a command its `audit.<db>` events carry, and which input and result members are
/// hidden in them (Kubernetes-style levels).
public struct AuditPolicy: Sendable, Equatable {
    public enum Level: String, Sendable, CaseIterable {
        /// Only `seq`, `db`, `status` and `ts`: the stream stays gap-free, nothing else is told.
        case none
        /// Who ran what, when, with which outcome and what it changed (the default).
        case metadata
        /// Metadata plus the command's input, redacted.
        case request
        /// Metadata plus the input and the result, both redacted.
        case requestResponse
    }

    public enum Redaction: String, Sendable {
        /// Redacted values become the string `[REDACTED]`.
        case mask
        /// Redacted values become `hmac-sha256:<hex>`, keyed with the data directory's audit key,
        /// so equal values can be correlated but not read back.
        case hash
    }

    public var level: Level = .metadata
    /// Member names whose values are redacted wherever they appear in the input or the result.
    public var redact: Set<String> = []
    public var redaction: Redaction = .mask
    /// For a query contract: whether each read is recorded in the read audit (`audit.db`,
    /// `sluice audit reads`). On unless the contract says `"reads": false`.
    public var reads = true

    public init() {}

    static let knownMembers: Set<String> = ["level", "redact", "redaction", "reads"]

    init(json: JSONValue?, file: String) throws(ContractError) {
        guard let json else { return }
        guard case .object(let members) = json else { throw ContractError(file: file, "'audit' must be an object") }
        for key in members.keys.sorted() where !AuditPolicy.knownMembers.contains(key) {
            throw ContractError(file: file, "unknown member 'audit.\(key)'")
        }
        if let level = members["level"] {
            guard let name = level.stringValue, let parsed = Level(rawValue: name) else {
                throw ContractError(
                    file: file, "'audit.level' must be one of \(Level.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            self.level = parsed
        }
        if let names = members["redact"] {
            guard let list = names.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw ContractError(file: file, "'audit.redact' must be an array of member names")
            }
            redact = Set(list.compactMap(\.stringValue))
        }
        if let reads = members["reads"] {
            guard case .bool(let flag) = reads else {
                throw ContractError(file: file, "'audit.reads' must be true or false")
            }
            self.reads = flag
        }
        if let mode = members["redaction"] {
            guard let name = mode.stringValue, let parsed = Redaction(rawValue: name) else {
                throw ContractError(file: file, "'audit.redaction' must be \"mask\" or \"hash\"")
            }
            redaction = parsed
        }
    }

    /// `value` with every member named in `redact`, at any depth, replaced.
    func redacted(_ value: JSONValue, key: [UInt8]) -> JSONValue {
        guard !redact.isEmpty else { return value }
        switch value {
        case .object(let members):
            // Member by member, keeping every name exactly (look-alike names stay two members;
            // a look-alike of a redacted name is redacted too: Set<String> matches it).
            return .object(
                members.mapMembers { name, member in
                    redact.contains(name) ? replacement(for: member, key: key) : redacted(member, key: key)
                })
        case .array(let items):
            return .array(items.map { redacted($0, key: key) })
        default:
            return value
        }
    }

    private func replacement(for value: JSONValue, key: [UInt8]) -> JSONValue {
        switch redaction {
        case .mask: return "[REDACTED]"
        case .hash: return .string("hmac-sha256:" + SHA256.hex(SHA256.hmac(key: key, message: value.canonicalBytes())))
        }
    }
}
