public import SluiceWire

/// A named, versioned operation a client may ask for: the only way anything reaches a database.
///
/// Loaded from a JSON document (see docs/contracts.md). A command contract runs its statements in
/// order inside one savepoint, binding `:name` parameters from the input's top-level members and
/// `:_now`, `:_id`, `:_actor`, `:_key` from values the broker fixed at admission.
/// The SQL a contract's statements and a database's migrations are written in.
public enum SQLDialect: String, Sendable {
    case sqlite
    /// An `exclusive-postgres` plugin's.
    case postgres
}

/// A final class: loaded once, never changed, and looked up for every request — a lookup hands
/// out one reference instead of copying every member.
public final class Contract: Sendable {
    public enum Kind: String, Sendable { case command, query }

    public let id: ContractID
    public let kind: Kind
    /// The database file (without `.db`) the contract runs against.
    public let database: String
    /// The capability a sender must hold (checked once capabilities exist; recorded now).
    public let capability: String?
    public let input: InputSchema
    public let statements: [Statement]
    /// Implemented in Swift (`"handler": "swift"`): a ``CommandHandler`` registered with the
    /// broker runs instead of statements, in the same transaction, with the same guarantees.
    public let handler: Bool
    /// Extra invalidation keys announced with every commit of this contract.
    public let invalidates: [String]
    /// Its commands need a UUID fixed at admission: a statement names `:_id`, or a Swift handler
    /// (``CommandHandlerContext/generatedID``) may read it. Other commands log an empty `generated_id`:
    /// nothing of theirs can depend on it, and a UUID drawn per command cost 4% of the I/O
    /// thread (benchmarks.md, "Fifteenth round").
    public let usesGeneratedID: Bool
    /// What its audit events carry, and what they hide.
    public let audit: AuditPolicy
    /// The plugin that provides it; nil for the operator's contract sets.
    public let plugin: String?
    /// Largest input, in bytes of its canonical JSON; bigger inputs get `payload_too_large`.
    public let maxPayloadBytes: Int?
    /// Deadline for requests that set no `deadline_ms` of their own.
    public let timeoutMs: Int?
    /// Queries: most rows returned (default 1000); more are cut and the result says `truncated`.
    public let maxRows: Int
    /// Queries: most bytes of row data returned (default 1 MiB).
    public let maxBytes: Int
    /// Queries: how long a result may be served from the cache (writes to what it read drop it
    /// sooner). Nil: not cached.
    public let cacheTTLMs: Int?

    static let commandLimits: Set<String> = ["max_payload_bytes", "timeout_ms"]
    static let queryLimits: Set<String> = ["max_payload_bytes", "timeout_ms", "max_rows", "max_bytes", "cache_ttl_ms"]
    /// The largest value of each limit: a day for times, the protocol's body limit for payloads.
    static let limitMaximums: [String: Int64] = [
        "max_payload_bytes": 1 << 20, "timeout_ms": 86_400_000, "cache_ttl_ms": 86_400_000, "max_rows": 1_000_000,
        "max_bytes": 1 << 30,
    ]
    /// Where the contract was loaded from.
    public let file: String
    /// The SQL its statements are written in.
    public let dialect: SQLDialect

    /// One SQL statement and the parameters it names.
    public struct Statement: Sendable {
        public var sql: String
        public var parameters: [String] {
            didSet { bindOrder = Statement.firstOccurrences(parameters) }
        }
        /// The distinct parameter names in the order SQLite numbers them (a named parameter gets
        /// the next index where it first appears), for binding by position.
        public private(set) var bindOrder: [String]

        public init(sql: String, parameters: [String]) {
            self.sql = sql
            self.parameters = parameters
            bindOrder = Statement.firstOccurrences(parameters)
        }

        static func firstOccurrences(_ names: [String]) -> [String] {
            var seen: Set<String> = []
            return names.filter { seen.insert($0).inserted }
        }
    }

    /// Parameters the broker supplies; input members cannot override them.
    public static let brokerParameters: Set<String> = ["_now", "_id", "_actor", "_key"]

    static let knownMembers: Set<String> = [
        "name", "version", "kind", "database", "capability", "input", "statements", "invalidates", "description",
        "$schema", "audit", "limits", "handler",
    ]

    /// Parses a contract document. A plugin's contracts (`plugin` set) run in the plugin's
    /// database, so `database` may be omitted (and must match if given), and need a capability.
    ///
    /// `dialect` is the SQL of the database the statements run in: an `exclusive-postgres`
    /// plugin's are PostgreSQL's (named parameters `:name` only; `::` is a cast).
    public init(
        json: JSONValue, file: String, plugin: String? = nil, pluginDatabase: String? = nil,
        dialect: SQLDialect = .sqlite
    ) throws(ContractError) {
        guard case .object(let members) = json else {
            throw ContractError(file: file, "a contract must be a JSON object")
        }
        for key in members.keys.sorted() where !Contract.knownMembers.contains(key) {
            throw ContractError(file: file, "unknown member '\(key)'")
        }
        guard let name = members["name"]?.stringValue, let version = members["version"]?.stringValue,
            let id = ContractID("\(name)@\(version)")
        else {
            throw ContractError(
                file: file, "'name' (dotted lowercase words) and 'version' (v1, v1alpha1, v2beta1...) are required")
        }
        guard let kindText = members["kind"]?.stringValue, let kind = Kind(rawValue: kindText) else {
            throw ContractError(file: file, "'kind' must be \"command\" or \"query\"")
        }
        let database: String
        if let pluginDatabase {
            if let declared = members["database"]?.stringValue, declared != pluginDatabase {
                throw ContractError(
                    file: file,
                    "'database' is \"\(declared)\", but the plugin's contracts run in \"\(pluginDatabase)\"; omit it")
            }
            database = pluginDatabase
            guard let capability = members["capability"]?.stringValue, PluginManifest.isValidCapability(capability)
            else {
                throw ContractError(file: file, "a plugin contract needs a 'capability' like \"data:task:create\"")
            }
            _ = capability
        } else {
            guard let declared = members["database"]?.stringValue, Contract.isValidDatabaseName(declared) else {
                throw ContractError(
                    file: file, "'database' must match [a-z][a-z0-9_-]{0,63} and not be 'audit', 'core', 'plugins' or 'rejected'")
            }
            database = declared
        }
        // A command implemented in Swift by the host that embeds the broker (CommandHandler).
        var handler = false
        if let value = members["handler"] {
            guard value.stringValue == "swift", kind == .command, plugin == nil, members["statements"] == nil else {
                throw ContractError(
                    file: file,
                    "'handler' is \"swift\" on a contract set's command contract without 'statements': its rules run in the host's Swift code (CommandHandler)")
            }
            handler = true
        }
        let statementList = handler ? [] : members["statements"]?.arrayValue ?? []
        guard handler || !statementList.isEmpty else {
            throw ContractError(file: file, "'statements' must be a non-empty array of SQL strings")
        }
        var statements: [Statement] = []
        for (index, entry) in statementList.enumerated() {
            guard let sql = entry.stringValue, !sql.allSatisfy(\.isWhitespace) else {
                throw ContractError(file: file, "statements[\(index)] must be a SQL string")
            }
            let parameters = dialect == .postgres ? SQLParameters.postgres(sql).names : SQLParameters.names(in: sql)
            for parameter in parameters where parameter.hasPrefix("_") && !Contract.brokerParameters.contains(parameter)
            {
                throw ContractError(
                    file: file,
                    "statements[\(index)] uses ':\(parameter)'; the broker supplies only \(Contract.brokerParameters.sorted().map { ":" + $0 }.joined(separator: ", "))"
                )
            }
            statements.append(Statement(sql: sql, parameters: parameters))
        }
        do {
            self.input = try InputSchema(members["input"] ?? ["type": "object"])
        } catch {
            throw ContractError(file: file, "input schema: \(error.reason)")
        }
        self.id = id
        self.kind = kind
        self.database = database
        self.capability = members["capability"]?.stringValue
        self.statements = statements
        self.handler = handler
        usesGeneratedID = handler || statements.contains { $0.parameters.contains("_id") }
        self.invalidates = members["invalidates"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.audit = try AuditPolicy(json: members["audit"], file: file)
        self.plugin = plugin
        var maxPayloadBytes: Int?
        var timeoutMs: Int?
        var maxRows = 1000
        var maxBytes = 1 << 20
        var cacheTTLMs: Int?
        if let limits = members["limits"] {
            guard case .object(let values) = limits else {
                throw ContractError(file: file, "'limits' must be an object")
            }
            let known = kind == .query ? Contract.queryLimits : Contract.commandLimits
            for key in values.keys.sorted() where !known.contains(key) {
                throw ContractError(
                    file: file,
                    "unknown member 'limits.\(key)' for a \(kind.rawValue) (\(known.sorted().joined(separator: ", ")))"
                )
            }
            for (key, value) in values {
                // Bounded so that no limit overflows when the broker turns it into nanoseconds or bytes.
                let maximum = Contract.limitMaximums[key] ?? 1
                guard let number = value.intValue, number > 0, number <= maximum else {
                    throw ContractError(file: file, "'limits.\(key)' must be an integer from 1 to \(maximum)")
                }
                switch key {
                case "max_payload_bytes": maxPayloadBytes = Int(number)
                case "timeout_ms": timeoutMs = Int(number)
                case "max_rows": maxRows = Int(number)
                case "max_bytes": maxBytes = Int(number)
                default: cacheTTLMs = Int(number)
                }
            }
        }
        self.maxPayloadBytes = maxPayloadBytes
        self.timeoutMs = timeoutMs
        self.maxRows = maxRows
        self.maxBytes = maxBytes
        self.cacheTTLMs = cacheTTLMs
        if kind == .query {
            guard statements.count == 1 else {
                throw ContractError(file: file, "a query contract has exactly one statement (a SELECT)")
            }
            let first = statements[0].sql.drop(while: { $0.isWhitespace || $0 == "(" }).prefix(while: \.isLetter)
                .uppercased()
            guard ["SELECT", "WITH", "VALUES"].contains(first) else {
                throw ContractError(
                    file: file,
                    "a query contract must read: its statement starts with \(first.isEmpty ? "nothing" : first), not SELECT or WITH"
                )
            }
        }
        if dialect == .postgres, kind == .command {
            // The statements run inside the broker's transaction, on its session: one that
            // ends the transaction, changes the session (`SET synchronous_commit`…) or the
            // schema would break what an ACK promises. PostgreSQL's role rights confine the
            // rest; the SQL itself is not parsed further.
            for (index, statement) in statements.enumerated() {
                let first = SQLParameters.postgresFirstKeyword(statement.sql)
                guard Contract.postgresCommandKeywords.contains(first) else {
                    throw ContractError(
                        file: file,
                        "statements[\(index)] starts with \(first.isEmpty ? "nothing" : first): an exclusive-postgres command runs \(Contract.postgresCommandKeywords.sorted().joined(separator: ", ")) statements only (no transaction control, SET or schema changes: those belong in migrations)")
                }
            }
        }
        self.file = file
        self.dialect = dialect
    }

    /// What an `exclusive-postgres` command's statements may start with.
    static let postgresCommandKeywords: Set<String> = ["INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH", "VALUES"]

    /// Names the broker uses itself: its files (`audit.db`, `core.db`, `plugins.db`) and the
    /// `audit.rejected` topic.
    public static let reservedDatabaseNames: Set<String> = ["audit", "core", "plugins", "rejected", "lifecycle"]

    public static func isValidDatabaseName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, first >= 0x61, first <= 0x7A, bytes.count <= 64 else { return false }
        guard !reservedDatabaseNames.contains(name) else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }
    }
}
