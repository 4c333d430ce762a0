public import Foundation
import GRDB
public import SluiceWire

/// The installed plugins of a data directory: their copies under `installed/<id>/` and their
/// tokens (and, written by the broker when it serves them, their rows in `core.db`).
public struct PluginCatalog: Sendable {
    public let dataDirectory: URL
    /// The level `core.db` commits with (the broker's configured level).
    public let synchronous: SynchronousMode

    public init(dataDirectory: URL, synchronous: SynchronousMode = .full) {
        self.dataDirectory = dataDirectory
        self.synchronous = synchronous
    }

    public var installedDirectory: URL { dataDirectory.appendingPathComponent("installed") }
    /// Inside an installed copy: contract versions an upgrade kept while clients move.
    public static let retainedFolder = "retained-contracts"

    /// The installed copy of plugin `id`.
    public func installed(_ id: String) -> URL { installedDirectory.appendingPathComponent(id) }

    /// The manifest of installed plugin `id`, or nil.
    public func manifest(of id: String) -> PluginManifest? {
        TokenStore.isValidName(id) ? try? PluginManifest(directory: installed(id)) : nil
    }
    public var coreDatabase: URL { dataDirectory.appendingPathComponent("core.db") }

    /// Verifies the plugin in `source` (``PluginVerification``: file permissions, the signature
    /// when keys are trusted) and validates it completely (manifest, broker version, contracts,
    /// migrations) before touching the data directory, then copies it to `installed/<id>/`, gives it a token and
    /// records it. Reinstalling replaces the copy; the broker loads it at its next start.
    @discardableResult
    public func install(from source: URL, contractDirectories: [URL] = []) throws -> PluginManifest {
        try install(from: source, contractDirectories: contractDirectories, retaining: [:])
    }

    private func install(from source: URL, contractDirectories: [URL], retaining retained: [String: Data]) throws
        -> PluginManifest
    {
        try PluginVerification.checkFiles(source)
        try PluginVerification.verifySignature(source, trustedKeys: TrustedSigningKeys(dataDirectory: dataDirectory).all())
        let manifest = try PluginManifest(directory: source)
        // The plugin alone first: its own faults are named before any conflict with others.
        var alone = ContractRegistry()
        try alone.loadPlugin(directory: source)
        // Checked with every plugin already installed (this one's old version excepted), as the
        // broker will load them: its SQL reaches only what its own migrations create, also in the
        // shared database next to the others' tables, and the projection tables it is granted
        // (from `contractDirectories`) only to read; refused here, before any copy.
        var all = try ContractRegistry(directories: contractDirectories)
        try all.loadInstalledPlugins(dataDirectory: dataDirectory, excluding: manifest.id)
        try all.loadPlugin(directory: source)
        try all.checkEventTopics()
        _ = try PluginIsolation(registry: all)
        try place(source, as: manifest.id, retaining: retained)
        try TokenStore(dataDirectory: dataDirectory).ensureToken(for: manifest.id)
        return manifest
    }

    /// Copies `source` to `installed/<id>` through a staging copy, durably, with `retained`
    /// contract documents (file name → bytes) in its ``retainedFolder``.
    private func place(_ source: URL, as id: String, retaining retained: [String: Data]) throws {
        let files = FileManager.default
        try DurableFile.createDirectory(installedDirectory)
        let target = installed(id)
        let staging = installedDirectory.appendingPathComponent(".\(id).partial")
        try? files.removeItem(at: staging)
        try files.copyItem(at: source, to: staging)
        // Kept versions come from the installed copy, never from the source folder.
        try? files.removeItem(at: staging.appendingPathComponent(PluginCatalog.retainedFolder))
        if !retained.isEmpty {
            let folder = staging.appendingPathComponent(PluginCatalog.retainedFolder)
            try files.createDirectory(at: folder, withIntermediateDirectories: true)
            for (name, data) in retained { try data.write(to: folder.appendingPathComponent(name)) }
        }
        // The copy is on disk before its name replaces the old one, and the name after.
        try DurableFile.syncTree(staging)
        try? files.removeItem(at: target)
        try files.moveItem(at: staging, to: target)
        try DurableFile.syncDirectory(installedDirectory)
    }

    /// Replaces installed plugin `id` with the version in `source`, checked as ``install(from:contractDirectories:)``
    /// checks. Contract versions the installed copy serves that the new one replaces with another
    /// version of the same name (`note.create@v1` when the new one has `note.create@v2`) are kept,
    /// so clients still sending the old version are served while they move (``retire(_:contract:)``
    /// ends that). Returns the new manifest and the previous one; the previous copy is kept aside
    /// in `installed/.<id>.previous` (``commitUpgrade(_:)`` deletes it, ``revertUpgrade(_:)`` puts
    /// it back).
    public func upgrade(from source: URL, contractDirectories: [URL] = []) throws -> (
        manifest: PluginManifest, previous: PluginManifest
    ) {
        let incoming = try PluginManifest(directory: source)
        guard let previous = manifest(of: incoming.id) else {
            throw PluginVerification.Refused(reason: "\(incoming.id) is not installed: use sluice plugins install")
        }
        // What the installed copy serves, and the documents behind it.
        var served: [String: Data] = [:]
        for folder in ["contracts", PluginCatalog.retainedFolder] {
            let directory = installed(incoming.id).appendingPathComponent(folder)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            where name.hasSuffix(".json") {
                guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path),
                    let json = try? JSONValue(parsing: Array(data)),
                    let id = ContractID("\(json["name"]?.stringValue ?? "")@\(json["version"]?.stringValue ?? "")")
                else { continue }
                served[id.description] = data
            }
        }
        let newNames = Set(incoming.contracts.compactMap { ContractID($0)?.name })
        var retained: [String: Data] = [:]
        for (id, document) in served where !incoming.contracts.contains(id) {
            guard let contract = ContractID(id), newNames.contains(contract.name) else { continue }
            retained["\(contract.name).\(contract.version).json"] = document
        }
        let backup = installedDirectory.appendingPathComponent(".\(incoming.id).previous")
        try? FileManager.default.removeItem(at: backup)
        try FileManager.default.copyItem(at: installed(incoming.id), to: backup)
        // Checked with the kept versions in place: they must still work with the new migrations.
        let staged = try stageWithRetained(source, retained)
        defer { try? FileManager.default.removeItem(at: staged) }
        do {
            let manifest = try install(from: staged, contractDirectories: contractDirectories, retaining: retained)
            return (manifest, previous)
        } catch {
            try? FileManager.default.removeItem(at: backup)
            throw error
        }
    }

    /// A scratch copy of `source` with `retained` in its retained folder, for the checks.
    private func stageWithRetained(_ source: URL, _ retained: [String: Data]) throws -> URL {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-upgrade-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: scratch)
        let folder = scratch.appendingPathComponent(PluginCatalog.retainedFolder)
        try? FileManager.default.removeItem(at: folder)
        if !retained.isEmpty {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (name, data) in retained { try data.write(to: folder.appendingPathComponent(name)) }
        }
        return scratch
    }

    /// The upgrade is served: the previous copy goes.
    public func commitUpgrade(_ id: String) {
        try? FileManager.default.removeItem(at: installedDirectory.appendingPathComponent(".\(id).previous"))
    }

    /// The upgrade was refused by the broker: the previous copy comes back.
    public func revertUpgrade(_ id: String) throws {
        let backup = installedDirectory.appendingPathComponent(".\(id).previous")
        guard FileManager.default.fileExists(atPath: backup.path) else { return }
        try? FileManager.default.removeItem(at: installed(id))
        try FileManager.default.moveItem(at: backup, to: installed(id))
        try DurableFile.syncDirectory(installedDirectory)
    }

    /// Stops serving a kept older contract version of plugin `id`. False when it kept none such.
    public func retire(_ id: String, contract: ContractID) throws -> Bool {
        let file = installed(id).appendingPathComponent(PluginCatalog.retainedFolder)
            .appendingPathComponent("\(contract.name).\(contract.version).json")
        guard FileManager.default.fileExists(atPath: file.path) else { return false }
        try FileManager.default.removeItem(at: file)
        try DurableFile.syncDirectory(file.deletingLastPathComponent())
        return true
    }

    /// Uninstalls plugin `id`: its copy, its token (refused from its next connection) and its
    /// row in core.db. Its data stays (``purge(_:registry:)`` deletes it).
    public func remove(_ id: String) throws -> PluginManifest {
        guard let manifest = manifest(of: id) else {
            throw PluginVerification.Refused(reason: "no installed plugin '\(id)'")
        }
        let aside = installedDirectory.appendingPathComponent(".\(id).removed")
        try? FileManager.default.removeItem(at: aside)
        try FileManager.default.moveItem(at: installed(id), to: aside)
        try DurableFile.syncDirectory(installedDirectory)
        try FileManager.default.removeItem(at: aside)
        try TokenStore(dataDirectory: dataDirectory).revoke(id)
        return manifest
    }

    /// Deletes removed plugin `id`'s data, as `registry` (which still has it) describes it: an
    /// exclusive plugin's database file, a shared plugin's objects in plugins.db. Only when
    /// nothing serves it any more: in a reload once the new set serves, or with the broker stopped.
    public func purge(_ id: String, registry: ContractRegistry) throws {
        switch registry.plugins[id]?.databaseMode {
        case .shared: try purgeShared(id, registry: registry)
        case .exclusiveSQLite: try purgeExclusiveFiles(of: id)
        default: break
        }
    }

    /// Deletes an exclusive plugin's database file (and its WAL and shared memory).
    func purgeExclusiveFiles(of id: String) throws {
        let file = dataDirectory.appendingPathComponent("plugins/\(id).db")
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: file.path + suffix) {
            try FileManager.default.removeItem(atPath: file.path + suffix)
        }
        try DurableFile.syncDirectory(file.deletingLastPathComponent())
    }

    /// Drops what shared plugin `id`'s migrations created in plugins.db (as `registry`, which
    /// still has it, says it owns) and forgets its migrations, so a reinstall starts empty. The
    /// shared command log keeps its commands (seqs stay gap-free). While no writer has work on
    /// plugins.db: in a reload before the I/O thread resumes, or with the broker stopped.
    func purgeShared(_ id: String, registry: ContractRegistry) throws {
        let owned = try PluginIsolation.ownedNames(database: "plugins", in: registry)[id] ?? []
        let file = dataDirectory.appendingPathComponent(registry.file(of: "plugins"))
        guard !owned.isEmpty, FileManager.default.fileExists(atPath: file.path) else { return }
        var configuration = Configuration()
        // The new writer may be checkpointing: wait for it as the broker's connections do.
        configuration.busyMode = .timeout(TimeInterval(DatabaseFile.busyTimeoutMs) / 1000)
        let queue = try DatabaseQueue.openForSetUp(at: file, configuration: configuration)
        try synchronous.apply(to: queue)
        try queue.write { db in
            let objects = try Row.fetchAll(
                db, sql: "SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger', 'table')"
            ).filter { owned.contains(($0["name"] as String).lowercased()) }
            for order in ["view", "trigger", "table"] {
                for object in objects where object["type"] == order {
                    try db.execute(sql: "DROP \(order.uppercased()) IF EXISTS \((object["name"] as String).quotedDatabaseIdentifier)")
                }
            }
            try db.execute(sql: "DELETE FROM sluice_migrations WHERE name LIKE ? ESCAPE '\\'", arguments: ["\(id)/%"])
        }
    }

    /// The installed plugins, from their copies (the broker records them in core.db when it
    /// serves them): id, version, database mode, whether disabled, when installed.
    public func list() throws -> [(id: String, version: String, mode: String, disabled: Bool, installedAt: String)] {
        let tokens = TokenStore(dataDirectory: dataDirectory)
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: installedDirectory.path)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
        return try ids.map { id in
            let manifest = try PluginManifest(directory: installed(id))
            let modified = (try? FileManager.default.attributesOfItem(atPath: installed(id).path))?[.modificationDate] as? Date
            let installedAt = modified.map { Clock.text(milliseconds: Int64($0.timeIntervalSince1970 * 1000)) } ?? ""
            return (id, manifest.version, manifest.databaseMode.rawValue, tokens.isDisabled(id), installedAt)
        }
    }

    /// Records what the broker serves in core.db — every contract (the operator's and plugins')
    /// and every installed plugin — so `sluice capabilities` and `sluice doctor` can tell who may
    /// run what without a broker. Only the broker writes core.db: at start and at each reload.
    public func recordContracts(_ registry: ContractRegistry) throws {
        try openCore().write { db in
            try db.execute(sql: "DELETE FROM plugins")
            for (id, manifest) in registry.plugins {
                try db.execute(
                    sql: "INSERT INTO plugins(id, version, mode, capabilities, installed_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        id, manifest.version, manifest.databaseMode.rawValue,
                        JSONValue.array(manifest.capabilities.map(JSONValue.string)).canonicalString, Clock.timestamp(),
                    ])
            }
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
