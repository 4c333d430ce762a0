public import Foundation
public import SluiceWire

/// Every contract and migration the broker serves, loaded once at start and read-only after.
///
/// A contract set is a directory with `contracts/*.json`, `migrations/<database>/*.sql` and
/// optionally `projections/*.json` (``Projection``).
public struct ContractRegistry: Sendable {
    public private(set) var contracts: [ContractID: Contract] = [:]
    public private(set) var migrations: [String: [Migration]] = [:]
    /// Installed plugins by id.
    public private(set) var plugins: [String: PluginManifest] = [:]
    /// Where each database's file lives, relative to the data directory (default `<name>.db`).
    public private(set) var databaseFiles: [String: String] = [:]
    /// The operator's projections by name (docs/projections.md).
    public private(set) var projections: [String: Projection] = [:]
    /// Installed plugins that are disabled (`sluice plugins disable`): their databases and
    /// migrations stay, their contracts and capabilities are gone (in `plugins` with none), and
    /// their identity is refused at the handshake (``TokenStore/isDisabled(_:)``).
    public private(set) var disabledPlugins: Set<String> = []
    /// The databases that live on the broker's PostgreSQL server (`exclusive-postgres` plugins):
    /// no file, a ``PostgresWriter`` instead of a SQLite one.
    public private(set) var postgresDatabases: Set<String> = []

    /// The served databases that are SQLite files.
    public var sqliteDatabases: [String] { databases.filter { !postgresDatabases.contains($0) } }

    /// The file of `database`, relative to the data directory.
    public func file(of database: String) -> String { databaseFiles[database] ?? "\(database).db" }

    /// The storage limit of `database` in bytes, from its plugin's manifest (exclusive modes only).
    public func storageLimit(of database: String) -> Int64? {
        guard let plugin = plugins[database], plugin.databaseMode != .shared,
            let megabytes = plugin.limits.storageMB
        else { return nil }
        return Int64(megabytes) << 20
    }

    public init() {}

    /// Loads each directory in order; two documents declaring the same `name@version` is an error.
    public init(directories: [URL]) throws(ContractError) {
        for directory in directories { try load(directory) }
    }

    /// Adds one contract (used by tests and by code that builds contracts in Swift).
    public mutating func register(_ contract: Contract) throws(ContractError) {
        if let existing = contracts[contract.id] {
            throw ContractError(file: contract.file, "\(contract.id) is already defined in \(existing.file)")
        }
        contracts[contract.id] = contract
        if migrations[contract.database] == nil { migrations[contract.database] = [] }
    }

    public mutating func addMigration(_ migration: Migration, database: String) throws(ContractError) {
        var list = migrations[database] ?? []
        if let existing = list.first(where: { $0.name == migration.name }), existing != migration {
            throw ContractError(
                file: migration.name, "two different migrations named \(migration.name) for database \(database)")
        }
        if !list.contains(migration) { list.append(migration) }
        list.sort { $0.name < $1.name }
        migrations[database] = list
    }

    public subscript(id: ContractID) -> Contract? { contracts[id] }

    /// Loads an installed plugin: its manifest, its `contracts/*.json` (run in the plugin's
    /// database) and its `migrations/*.sql`.
    public mutating func loadPlugin(directory: URL) throws {
        let manifest = try PluginManifest(directory: directory)
        if let range = manifest.brokerVersion, !range.contains(BrokerVersion.current) {
            throw PluginManifest.Invalid(
                field: "broker_version",
                reason: "is \"\(range)\": plugin \(manifest.id) does not work with this broker (\(BrokerVersion.current))")
        }
        guard plugins[manifest.id] == nil else {
            throw ContractError(file: directory.path, "plugin \(manifest.id) is loaded twice")
        }
        if manifest.databaseMode != .shared, migrations[manifest.id] != nil {
            throw ContractError(
                file: directory.path, "plugin id \(manifest.id) is also the name of a contract set's database")
        }
        var provided: Set<String> = []
        for (path, json) in try ContractRegistry.contractDocuments(in: directory.appendingPathComponent("contracts")) {
            let contract = try Contract(
                json: json, file: path, plugin: manifest.id, pluginDatabase: manifest.databaseName,
                dialect: manifest.dialect)
            try register(contract)
            provided.insert(contract.id.description)
        }
        for (index, declared) in manifest.contracts.enumerated() where !provided.contains(declared) {
            throw PluginManifest.Invalid(
                field: "contracts[\(index)]", reason: "names \(declared), which is not in contracts/")
        }
        for found in provided.sorted() where !manifest.contracts.contains(found) {
            throw PluginManifest.Invalid(field: "contracts", reason: "does not list \(found), which is in contracts/")
        }
        // Older versions kept by an upgrade while clients move (PluginCatalog.upgrade), served
        // like the plugin's own.
        for (path, json) in try ContractRegistry.contractDocuments(
            in: directory.appendingPathComponent(PluginCatalog.retainedFolder))
        {
            try register(
                Contract(
                    json: json, file: path, plugin: manifest.id, pluginDatabase: manifest.databaseName,
                    dialect: manifest.dialect))
        }
        for (name, sql) in try ContractRegistry.migrationFiles(in: directory.appendingPathComponent("migrations")) {
            // In the shared database, migrations of different plugins must not collide.
            let recorded = manifest.databaseMode == .shared ? "\(manifest.id)/\(name)" : name
            try addMigration(Migration(name: recorded, sql: sql, plugin: manifest.id), database: manifest.databaseName)
        }
        if migrations[manifest.databaseName] == nil { migrations[manifest.databaseName] = [] }
        switch manifest.databaseMode {
        case .shared: databaseFiles[manifest.databaseName] = "plugins.db"
        case .exclusiveSQLite: databaseFiles[manifest.databaseName] = "plugins/\(manifest.id).db"
        case .exclusivePostgres: postgresDatabases.insert(manifest.databaseName)
        }
        plugins[manifest.id] = manifest
    }

    /// Loads every plugin installed under `<dataDirectory>/installed/` (but `excluded`, the one
    /// an install is about to replace).
    public mutating func loadInstalledPlugins(dataDirectory: URL, excluding excluded: String? = nil) throws {
        let installed = dataDirectory.appendingPathComponent("installed")
        let tokens = TokenStore(dataDirectory: dataDirectory)
        for id in ((try? FileManager.default.contentsOfDirectory(atPath: installed.path)) ?? []).sorted()
        where id != excluded && !id.hasPrefix(".") {
            try loadPlugin(directory: installed.appendingPathComponent(id))
            if tokens.isDisabled(id) { disable(id) }
        }
    }

    /// Keeps plugin `id`'s database and migrations, drops its contracts and capabilities.
    mutating func disable(_ id: String) {
        guard var manifest = plugins[id] else { return }
        manifest.capabilities = []
        plugins[id] = manifest
        contracts = contracts.filter { $0.value.plugin != id }
        disabledPlugins.insert(id)
    }

    /// Event topics are matched by prefix (protocol §5), so a subscriber granted `audit.tasks`
    /// would also receive `audit.tasks-archive`: no database's name may start with another's.
    public func checkEventTopics() throws(ContractError) {
        let names = databases
        for name in names {
            if let longer = names.first(where: { $0 != name && $0.hasPrefix(name) }) {
                let owner = plugins[longer].map { "plugin \($0.id)" } ?? "a contract set"
                throw ContractError(
                    file: longer,
                    "\(owner)'s database '\(longer)' starts with the name of database '\(name)': event topics match by prefix, so a subscriber allowed audit.\(name) would also receive audit.\(longer); choose a name that does not start with another database's"
                )
            }
        }
    }

    /// Every projection reads a contract set's database and fills a table of a plugin's database
    /// that no other projection fills. Checked once the plugins are loaded.
    public func checkProjections() throws(ContractError) {
        var tables: [String: String] = [:]
        for projection in projections.values.sorted(by: { $0.name < $1.name }) {
            guard migrations[projection.sourceDatabase] != nil, plugins[projection.sourceDatabase] == nil,
                projection.sourceDatabase != "plugins"
            else {
                throw ContractError(
                    file: projection.file,
                    "projection \(projection.name) reads database '\(projection.sourceDatabase)', which no contract set defines (a projection copies core data, from a contract set's database)")
            }
            guard !postgresDatabases.contains(projection.targetDatabase) else {
                throw ContractError(
                    file: projection.file,
                    "projection \(projection.name) fills database '\(projection.targetDatabase)', an \"exclusive-postgres\" plugin's: projections fill SQLite databases only")
            }
            guard plugins.values.contains(where: { $0.databaseName == projection.targetDatabase }) else {
                throw ContractError(
                    file: projection.file,
                    "projection \(projection.name) fills database '\(projection.targetDatabase)', which no installed plugin uses (the target is a plugin id with an exclusive database, or 'plugins' for the shared one)")
            }
            let place = "\(projection.targetDatabase).\(projection.table)"
            if let other = tables[place] {
                throw ContractError(file: projection.file, "projections \(other) and \(projection.name) both fill \(place)")
            }
            tables[place] = projection.name
        }
    }

    /// The projections whose table lives in `database`.
    public func projections(into database: String) -> [Projection] {
        projections.values.filter { $0.targetDatabase == database }.sorted { $0.name < $1.name }
    }

    /// The audit policy for `actor` running `contract`: the contract's, with the level of the
    /// actor's plugin manifest when it sets one.
    public func auditPolicy(for contract: Contract?, actor: String) -> AuditPolicy {
        var policy = contract?.audit ?? AuditPolicy()
        if let level = plugins[actor]?.auditLevel { policy.level = level }
        return policy
    }

    /// The versions that exist for a contract name, for `unknown_contract` errors.
    public func versions(of name: String) -> [String] {
        contracts.keys.filter { $0.name == name }.map(\.version).sorted()
    }

    /// Every database some contract or migration names.
    public var databases: [String] { Set(migrations.keys).union(contracts.values.map(\.database)).sorted() }

    private mutating func load(_ directory: URL) throws(ContractError) {
        let files = FileManager.default
        let contractsDirectory = directory.appendingPathComponent("contracts")
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ContractError(file: directory.path, "contract directory does not exist")
        }
        for (path, json) in try ContractRegistry.contractDocuments(in: contractsDirectory) {
            try register(try Contract(json: json, file: path))
        }
        for (path, json) in try ContractRegistry.contractDocuments(in: directory.appendingPathComponent("projections")) {
            let projection = try Projection(json: json, file: path)
            if let existing = projections[projection.name] {
                throw ContractError(file: path, "projection \(projection.name) is already defined in \(existing.file)")
            }
            projections[projection.name] = projection
        }
        let migrationsDirectory = directory.appendingPathComponent("migrations")
        let databases = ((try? files.contentsOfDirectory(atPath: migrationsDirectory.path)) ?? []).sorted()
        for database in databases {
            guard Contract.isValidDatabaseName(database) else {
                throw ContractError(
                    file: migrationsDirectory.appendingPathComponent(database).path, "not a valid database name")
            }
            for (name, sql) in try ContractRegistry.migrationFiles(
                in: migrationsDirectory.appendingPathComponent(database))
            {
                try addMigration(Migration(name: name, sql: sql), database: database)
            }
        }
    }

    /// The `*.json` documents of a folder, parsed, in file-name order (none if it is missing).
    private static func contractDocuments(in folder: URL) throws(ContractError) -> [(path: String, json: JSONValue)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted()
        var documents: [(path: String, json: JSONValue)] = []
        for name in names {
            let path = folder.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ContractError(file: path, "cannot read file")
            }
            do {
                documents.append((path, try JSONValue(parsing: Array(data))))
            } catch {
                throw ContractError(file: path, "\(error)")
            }
        }
        return documents
    }

    /// The `*.sql` files of a folder, in file-name order (none if it is missing).
    private static func migrationFiles(in folder: URL) throws(ContractError) -> [(name: String, sql: String)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".sql") }.sorted()
        var files: [(name: String, sql: String)] = []
        for name in names {
            let path = folder.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path), let sql = String(data: data, encoding: .utf8)
            else {
                throw ContractError(file: path, "cannot read file as UTF-8")
            }
            files.append((name, sql))
        }
        return files
    }
}
