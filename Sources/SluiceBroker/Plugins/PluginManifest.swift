public import Foundation
public import SluiceWire

/// A plugin's `plugin.json`: who it is, what it may do, where its data lives, and its limits.
///
/// ```json
/// {"id": "tasks", "version": "1.0.0",
///  "capabilities": ["data:task:create", "data:task:update"],
///  "contracts": ["task.create@v1", "task.complete@v1"],
///  "database": {"mode": "exclusive-sqlite"},
///  "limits": {"storage_mb": 64, "max_in_flight": 256, "rate_per_second": 500, "timeout_ms": 5000},
///  "audit": {"level": "metadata"}}
/// ```
public struct PluginManifest: Sendable, Equatable {
    public enum DatabaseMode: String, Sendable, CaseIterable {
        /// Tables in the shared `plugins.db`, next to other shared plugins'.
        case shared
        /// A database file of its own, `plugins/<id>.db`.
        case exclusiveSQLite = "exclusive-sqlite"
        /// Schemas and a role of its own on the broker's PostgreSQL server (`postgres.url`).
        case exclusivePostgres = "exclusive-postgres"
    }

    public struct Limits: Sendable, Equatable {
        /// Largest size of the plugin's own database (its file, or its PostgreSQL schemas), in MiB.
        public var storageMB: Int?
        /// Commands of this plugin admitted and not yet answered, at most.
        public var maxInFlight: Int?
        /// Sustained commands per second (a token bucket of one second's burst).
        public var ratePerSecond: Double?
        /// Deadline applied to the plugin's commands that do not set `deadline_ms`.
        public var timeoutMs: Int?
        /// Sessions the plugin's PostgreSQL role may hold at once (`exclusive-postgres`; default 8,
        /// at least 2: the broker's writer and a reader).
        public var connections: Int?
        /// Queries of this plugin admitted and not yet answered, at most.
        public var maxQueriesInFlight: Int?
        /// Sustained queries per second (a token bucket of one second's burst).
        public var queryRatePerSecond: Double?
    }

    public var id: String
    public var version: String
    public var capabilities: [String]
    /// The contracts (`name@version`) the plugin provides, found in its `contracts/` folder.
    public var contracts: [String]
    public var databaseMode: DatabaseMode
    public var limits: Limits
    public var auditLevel: AuditPolicy.Level?
    /// The broker versions the plugin works with (`"broker_version": ">=0.9.0 <2.0.0"`); nil: any.
    public var brokerVersion: VersionRange?

    /// The SQL its contracts and migrations are written in.
    public var dialect: SQLDialect { databaseMode == .exclusivePostgres ? .postgres : .sqlite }

    /// Where this plugin's data lives: the database name its contracts run against.
    public var databaseName: String { databaseMode == .shared ? "plugins" : id }

    /// A manifest that cannot be used, naming the field at fault.
    public struct Invalid: Error, Sendable, CustomStringConvertible, Equatable {
        public var field: String
        public var reason: String
        public var description: String { "plugin.json: '\(field)' \(reason)" }
    }

    static let knownMembers: Set<String> = [
        "id", "version", "capabilities", "contracts", "database", "limits", "audit", "description", "$schema",
        "broker_version",
    ]

    /// `data:task:create`: two or more `:`-separated lowercase words.
    public static func isValidCapability(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count >= 2 && text.utf8.count <= 128
            && parts.allSatisfy { part in
                guard let first = part.utf8.first, first >= 0x61, first <= 0x7A else { return false }
                return part.utf8.allSatisfy {
                    ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
                }
            }
    }

    public init(json: JSONValue) throws(Invalid) {
        guard case .object(let members) = json else {
            throw Invalid(field: "(document)", reason: "must be a JSON object")
        }
        for key in members.keys.sorted() where !PluginManifest.knownMembers.contains(key) {
            throw Invalid(field: key, reason: "is not a manifest member")
        }
        guard let id = members["id"]?.stringValue else { throw Invalid(field: "id", reason: "is required (a string)") }
        guard TokenStore.isValidName(id), id != TokenStore.operatorName, id != "anonymous",
            !Contract.reservedDatabaseNames.contains(id)
        else {
            throw Invalid(
                field: "id",
                reason: "must be 1-64 characters of [a-z0-9-], and not 'local', 'anonymous', 'audit', 'core', 'plugins' or 'rejected'")
        }
        guard let version = members["version"]?.stringValue, !version.isEmpty, version.utf8.count <= 64 else {
            throw Invalid(field: "version", reason: "is required (a non-empty string, e.g. \"1.0.0\")")
        }
        guard let capabilityList = members["capabilities"]?.arrayValue else {
            throw Invalid(
                field: "capabilities", reason: "is required (an array of capabilities like \"data:task:create\")")
        }
        var capabilities: [String] = []
        for (index, entry) in capabilityList.enumerated() {
            guard let capability = entry.stringValue, PluginManifest.isValidCapability(capability) else {
                throw Invalid(
                    field: "capabilities[\(index)]",
                    reason: "must look like \"data:task:create\" (lowercase words separated by ':')")
            }
            capabilities.append(capability)
        }
        var contracts: [String] = []
        for (index, entry) in (members["contracts"]?.arrayValue ?? []).enumerated() {
            guard let text = entry.stringValue, ContractID(text) != nil else {
                throw Invalid(field: "contracts[\(index)]", reason: "must be name@version")
            }
            contracts.append(text)
        }
        guard let database = members["database"]?.objectValue, let modeText = database["mode"]?.stringValue else {
            throw Invalid(
                field: "database.mode",
                reason: "is required: \"shared\", \"exclusive-sqlite\" or \"exclusive-postgres\"")
        }
        guard let mode = DatabaseMode(rawValue: modeText) else {
            throw Invalid(
                field: "database.mode",
                reason: "must be \"shared\", \"exclusive-sqlite\" or \"exclusive-postgres\", not \"\(modeText)\"")
        }
        if mode == .exclusivePostgres, id.utf8.count > PostgresProvisioning.maxPluginIDLength {
            throw Invalid(
                field: "id",
                reason: "is longer than \(PostgresProvisioning.maxPluginIDLength) characters, too long for the PostgreSQL role and schemas of an \"exclusive-postgres\" plugin")
        }
        var limits = Limits()
        if let limitMembers = members["limits"] {
            guard case .object(let values) = limitMembers else {
                throw Invalid(field: "limits", reason: "must be an object")
            }
            let known = [
                "storage_mb", "max_in_flight", "rate_per_second", "timeout_ms", "max_queries_in_flight",
                "query_rate_per_second", "connections",
            ]
            for key in values.keys.sorted() where !known.contains(key) {
                throw Invalid(field: "limits.\(key)", reason: "is not a limit (\(known.joined(separator: ", ")))")
            }
            func positive(_ key: String) throws(Invalid) -> Int? {
                guard let value = values[key] else { return nil }
                guard let number = value.intValue, number > 0, number <= 1_000_000_000 else {
                    throw Invalid(field: "limits.\(key)", reason: "must be a positive integer")
                }
                return Int(number)
            }
            limits.storageMB = try positive("storage_mb")
            limits.maxInFlight = try positive("max_in_flight")
            limits.timeoutMs = try positive("timeout_ms")
            func rate(_ key: String) throws(Invalid) -> Double? {
                guard let value = values[key] else { return nil }
                guard let number = value.doubleValue, number > 0 else {
                    throw Invalid(field: "limits.\(key)", reason: "must be a positive number")
                }
                return number
            }
            limits.ratePerSecond = try rate("rate_per_second")
            limits.maxQueriesInFlight = try positive("max_queries_in_flight")
            limits.queryRatePerSecond = try rate("query_rate_per_second")
            limits.connections = try positive("connections")
            if limits.connections != nil, mode != .exclusivePostgres {
                throw Invalid(field: "limits.connections", reason: "applies to \"exclusive-postgres\" plugins only")
            }
            if let connections = limits.connections, connections < PostgresWriter.connectionsUsed {
                throw Invalid(
                    field: "limits.connections",
                    reason: "must be at least \(PostgresWriter.connectionsUsed): the broker's writer and reader sessions as the plugin's role")
            }
        }
        var auditLevel: AuditPolicy.Level?
        if let audit = members["audit"] {
            guard let levelText = audit["level"]?.stringValue, let level = AuditPolicy.Level(rawValue: levelText) else {
                throw Invalid(field: "audit.level", reason: "must be none, metadata, request or requestResponse")
            }
            auditLevel = level
        }
        if let range = members["broker_version"] {
            guard let text = range.stringValue, let parsed = VersionRange(text) else {
                throw Invalid(
                    field: "broker_version",
                    reason: "must be a version range such as \">=0.9.0 <2.0.0\" (comparators >=, >, <=, <, = and MAJOR.MINOR.PATCH)")
            }
            brokerVersion = parsed
        }
        self.id = id
        self.version = version
        self.capabilities = capabilities
        self.contracts = contracts
        self.databaseMode = mode
        self.limits = limits
        self.auditLevel = auditLevel
    }

    /// Reads `<directory>/plugin.json`.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("plugin.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Invalid(field: "(file)", reason: "cannot be read at \(url.path)")
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: Array(data))
        } catch {
            throw Invalid(field: "(document)", reason: "is not valid JSON: \(error)")
        }
        try self.init(json: json)
    }
}
