public import Foundation
public import SluiceWire

/// `sluice serve --config FILE`: what `sluice serve`'s options say, in a JSON file
/// (`schemas/config.schema.json`, example `examples/sluice.json`). An option given on the command
/// line wins over the file; the file wins over the defaults. Relative paths are relative to the
/// file's directory, so a configuration means the same from wherever the broker is started.
public struct ConfigurationFile: Sendable, Equatable {
    public var dataDirectory: URL?
    public var contracts: [URL]?
    public var endpoint: String?
    public var eventsEndpoint: String?
    public var socketDirectory: URL?
    public var socketGroup: String?
    public var synchronous: String?
    public var maxBatch: Int?
    public var metricsEndpoint: String?
    public var logLevel: String?
    public var idleExitMs: Int?
    public var insecureTCP: Bool?
    /// `postgres.url`: the PostgreSQL server of `exclusive-postgres` plugins.
    public var postgresURL: String?
    /// `postgres.password_file` (relative to the file's directory): its administrative password.
    public var postgresPasswordFile: URL?

    /// A configuration that cannot be used, naming the file and the key at fault.
    public struct Invalid: Error, CustomStringConvertible {
        public var file: String
        public var key: String
        public var reason: String
        public var description: String { "\(file): '\(key)' \(reason)" }
    }

    static let keys: Set<String> = [
        "$schema", "data_dir", "contracts", "endpoint", "events_endpoint", "socket_dir", "socket_group", "synchronous",
        "max_batch", "metrics_endpoint", "log_level", "idle_exit_ms", "insecure_tcp", "postgres",
    ]

    /// Nothing configured: every option at its default.
    public init() {}

    public init(contentsOf url: URL) throws {
        let file = url.path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Invalid(file: file, key: "(file)", reason: "cannot be read")
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: Array(data))
        } catch {
            throw Invalid(file: file, key: "(document)", reason: "is not valid JSON: \(error)")
        }
        guard let members = json.objectValue else {
            throw Invalid(file: file, key: "(document)", reason: "must be a JSON object")
        }
        for key in members.keys.sorted() where !Self.keys.contains(key) {
            throw Invalid(
                file: file, key: key, reason: "is not a configuration key (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        let base = url.deletingLastPathComponent()
        func path(_ text: String) -> URL {
            (text.hasPrefix("/") ? URL(fileURLWithPath: text) : base.appendingPathComponent(text)).standardizedFileURL
        }
        func string(_ key: String) throws -> String? {
            guard let value = members[key] else { return nil }
            guard let text = value.stringValue, !text.isEmpty else {
                throw Invalid(file: file, key: key, reason: "must be a non-empty string")
            }
            return text
        }
        func integer(_ key: String, minimum: Int) throws -> Int? {
            guard let value = members[key] else { return nil }
            guard let number = value.intValue, number >= minimum, number <= Int32.max else {
                throw Invalid(file: file, key: key, reason: "must be an integer from \(minimum) to \(Int32.max)")
            }
            return Int(number)
        }
        dataDirectory = try string("data_dir").map(path)
        if let list = members["contracts"] {
            guard let entries = list.arrayValue, entries.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw Invalid(file: file, key: "contracts", reason: "must be an array of contract set directories")
            }
            contracts = entries.compactMap(\.stringValue).map(path)
        }
        endpoint = try string("endpoint")
        eventsEndpoint = try string("events_endpoint")
        socketDirectory = try string("socket_dir").map(path)
        socketGroup = try string("socket_group")
        synchronous = try string("synchronous")
        if let synchronous, synchronous != "full", synchronous != "normal" {
            throw Invalid(file: file, key: "synchronous", reason: "must be full or normal")
        }
        maxBatch = try integer("max_batch", minimum: 1)
        metricsEndpoint = try string("metrics_endpoint")
        logLevel = try string("log_level")
        idleExitMs = try integer("idle_exit_ms", minimum: 0)
        if let flag = members["insecure_tcp"] {
            guard let value = flag.boolValue else { throw Invalid(file: file, key: "insecure_tcp", reason: "must be true or false") }
            insecureTCP = value
        }
        if let postgres = members["postgres"] {
            guard let settings = postgres.objectValue else {
                throw Invalid(file: file, key: "postgres", reason: "must be an object: {\"url\": …, \"password_file\": …}")
            }
            for key in settings.keys.sorted() where key != "url" && key != "password_file" {
                throw Invalid(file: file, key: "postgres.\(key)", reason: "is not a postgres setting (url, password_file)")
            }
            guard let url = settings["url"]?.stringValue, !url.isEmpty else {
                throw Invalid(file: file, key: "postgres.url", reason: "is required: postgres://user@host:port/database")
            }
            postgresURL = url
            if let passwordFile = settings["password_file"] {
                guard let text = passwordFile.stringValue, !text.isEmpty else {
                    throw Invalid(file: file, key: "postgres.password_file", reason: "must be a non-empty path")
                }
                postgresPasswordFile = path(text)
            }
        }
        // An ipc endpoint written relative means relative to the file too.
        endpoint = endpoint.map { Self.resolve($0, against: base) }
        eventsEndpoint = eventsEndpoint.map { Self.resolve($0, against: base) }
    }

    private static func resolve(_ endpoint: String, against base: URL) -> String {
        guard endpoint.hasPrefix("ipc://"), !endpoint.hasPrefix("ipc:///") else { return endpoint }
        return "ipc://" + base.appendingPathComponent(String(endpoint.dropFirst(6))).standardizedFileURL.path
    }
}
