public import Foundation
import GRDB
import SluiceWire

/// The installed plugins of a data directory: their copies under `installed/<id>/`, their tokens,
/// and their rows in `core.db`.
public struct PluginCatalog: Sendable {
    public let dataDirectory: URL
    /// The level `core.db` commits with (the broker's configured level).
    public let synchronous: SynchronousMode

    public init(dataDirectory: URL, synchronous: SynchronousMode = .full) {
        self.dataDirectory = dataDirectory
        self.synchronous = synchronous
    }

    public var installedDirectory: URL { dataDirectory.appendingPathComponent("installed") }
    public var coreDatabase: URL { dataDirectory.appendingPathComponent("core.db") }

    /// Verifies the plugin in `source` (``PluginVerification``: file permissions, the signature
    /// when keys are trusted) and validates it completely (manifest, broker version, contracts,
    /// migrations) before touching the data directory, then copies it to `installed/<id>/`, gives it a token and
    /// records it. Reinstalling replaces the copy; the broker loads it at its next start.
    @discardableResult
    public func install(from source: URL, contractDirectories: [URL] = []) throws -> PluginManifest {
        try PluginVerification.checkFiles(source)
        try PluginVerification.verifySignature(source, trustedKeys: TrustedSigningKeys(dataDirectory: dataDirectory).all())
        let manifest = try PluginManifest(directory: source)
        var scratch = ContractRegistry()
        try scratch.loadPlugin(directory: source)
        // Checked with every plugin already installed (this one's old version excepted), as the
        // broker will load them: its SQL reaches only what its own migrations create, also in the
        // shared database next to the others' tables, and the projection tables it is granted
        // (from `contractDirectories`) only to read; refused here, before any copy.
        var all = try ContractRegistry(directories: contractDirectories)
        try all.loadInstalledPlugins(dataDirectory: dataDirectory, excluding: manifest.id)
        try all.loadPlugin(directory: source)
        try all.checkEventTopics()
        _ = try PluginIsolation(registry: all)
        let files = FileManager.default
        try DurableFile.createDirectory(installedDirectory)
        let target = installedDirectory.appendingPathComponent(manifest.id)
        let staging = installedDirectory.appendingPathComponent(".\(manifest.id).partial")
        try? files.removeItem(at: staging)
        try files.copyItem(at: source, to: staging)
        // The copy is on disk before its name replaces the old one, and the name after.
        try DurableFile.syncTree(staging)
        try? files.removeItem(at: target)
        try files.moveItem(at: staging, to: target)
        try DurableFile.syncDirectory(installedDirectory)
        try TokenStore(dataDirectory: dataDirectory).ensureToken(for: manifest.id)
        try record(manifest, contracts: scratch.contracts.values.map { $0 })
        return manifest
    }

    /// The installed plugins, as recorded in core.db.
    public func list() throws -> [(id: String, version: String, mode: String, installedAt: String)] {
        guard FileManager.default.fileExists(atPath: coreDatabase.path) else { return [] }
        return try openCore().read { db in
            try Row.fetchAll(db, sql: "SELECT id, version, mode, installed_at FROM plugins ORDER BY id").map { row in
                (row["id"], row["version"], row["mode"], row["installed_at"])
            }
        }
    }

    private func record(_ manifest: PluginManifest, contracts: [Contract]) throws {
        try openCore().write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO plugins(id, version, mode, capabilities, installed_at) VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    manifest.id, manifest.version, manifest.databaseMode.rawValue,
                    JSONValue.array(manifest.capabilities.map(JSONValue.string)).canonicalString, Clock.timestamp(),
                ]
            )
            try db.execute(sql: "DELETE FROM contracts WHERE plugin = ?", arguments: [manifest.id])
            for contract in contracts {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO contracts(id, plugin, capability, database) VALUES (?, ?, ?, ?)",
                    arguments: [contract.id.description, manifest.id, contract.capability, contract.database]
                )
            }
        }
    }

    /// Records every contract the broker serves (the operator's and plugins') in core.db, so
    /// `sluice capabilities` and `sluice doctor` can tell who may run what without a broker.
    public func recordContracts(_ registry: ContractRegistry) throws {
        try openCore().write { db in
            try db.execute(sql: "DELETE FROM contracts")
            for contract in registry.contracts.values {
                try db.execute(
                    sql: "INSERT INTO contracts(id, plugin, capability, database) VALUES (?, ?, ?, ?)",
                    arguments: [contract.id.description, contract.plugin, contract.capability, contract.database]
                )
            }
        }
    }

    func openCore() throws -> DatabaseQueue {
        let queue = try DatabaseQueue.openForSetUp(at: coreDatabase)
        try synchronous.apply(to: queue)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS plugins(
                        id TEXT PRIMARY KEY, version TEXT NOT NULL, mode TEXT NOT NULL, capabilities TEXT NOT NULL,
                        installed_at TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS contracts(
                        id TEXT PRIMARY KEY, plugin TEXT, capability TEXT, database TEXT NOT NULL) WITHOUT ROWID;
                    """
            )
        }
        return queue
    }
}
