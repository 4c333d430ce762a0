public import Foundation
import GRDB
public import SluiceWire

/// Online backup and offline restore of a data directory's databases.
///
/// Backup uses SQLite's online backup API on read-only connections, so it runs next to a serving
/// broker and copies each database as of one consistent point (data, ledger and log together).
/// Restore needs the broker stopped; it gives every restored database a new epoch, so subscribers
/// notice their streams' history changed and resync.
public enum DataDirectoryBackup {
    /// What a backup contains, written as `backup.json` beside the copies.
    public struct Manifest: Sendable {
        public var createdAt: String
        /// Per database file (without `.db`): its last seq and epoch at backup time.
        public var databases: [String: (lastSeq: Int64, epoch: String)]
        /// The other state copied (``DataDirectoryBackup/stateFiles`` that existed).
        public var files: [String] = []

        var json: JSONValue {
            [
                "created_at": .string(createdAt),
                "databases": .object(
                    databases.mapValues { ["last_seq": .int($0.lastSeq), "epoch": .string($0.epoch)] }
                ),
                "files": .array(files.map(JSONValue.string)),
            ]
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Copies every `*.db` of `dataDirectory` into `destination` (created; must be empty).
    @discardableResult
    public static func backup(
        dataDirectory: URL, to destination: URL, progress: ((_ file: String, _ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Manifest {
        let files = FileManager.default
        if files.fileExists(atPath: destination.path),
            !((try? files.contentsOfDirectory(atPath: destination.path)) ?? []).isEmpty
        {
            throw Failure(message: "\(destination.path) is not empty")
        }
        try DurableFile.createDirectory(destination)
        var manifest = Manifest(createdAt: Clock.timestamp(), databases: [:])
        let names = try databaseFiles(in: dataDirectory)
        for (index, name) in names.enumerated() {
            progress?(name, index, names.count)
            var configuration = Configuration()
            configuration.readonly = true
            let source = try DatabaseQueue(
                path: dataDirectory.appendingPathComponent(name).path, configuration: configuration)
            try files.createDirectory(
                at: destination.appendingPathComponent(name).deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            let copy = try DatabaseQueue(path: destination.appendingPathComponent(name).path)
            try source.backup(to: copy)
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let state = try copy.read { db -> (Int64, String) in
                let hasLog = try db.tableExists("sluice_log")
                let seq = hasLog ? try DatabaseFile.lastSeq(in: db) : 0
                let epoch =
                    try db.tableExists("sluice_meta")
                    ? try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'epoch'") ?? "" : ""
                return (seq, epoch)
            }
            try copy.close()
            manifest.databases[String(name.dropLast(3))] = state
        }
        // What a restore needs besides the databases: the identities' credentials, the audit key,
        // installed plugins, compaction snapshots (a replay starts from them) and the audit archive.
        for path in stateFiles where files.fileExists(atPath: dataDirectory.appendingPathComponent(path).path) {
            let target = destination.appendingPathComponent(path)
            try files.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try files.copyItem(at: dataDirectory.appendingPathComponent(path), to: target)
            manifest.files.append(path)
        }
        // backup.json last: a backup that has it is complete, and everything it lists is on disk.
        try DurableFile.syncTree(destination)
        try DurableFile.write(
            Data(manifest.json.canonicalString.utf8), to: destination.appendingPathComponent("backup.json"))
        return manifest
    }

    /// The files and directories besides the databases that a backup copies and a restore puts
    /// back, relative to the data directory: tokens, the audit key, CURVE keys and the key
    /// registry, installed plugins, `exclusive-postgres` roles' passwords, compaction snapshots
    /// and the audit archive (the top level's and the plugins' databases'). Sockets, locks, logs
    /// and WAL files are not state; PostgreSQL's data is PostgreSQL's to back up.
    public static let stateFiles = [
        "tokens", "audit.key", "curve", "installed", "trusted-keys", "postgres", "snapshots", "audit-archive",
        "plugins/snapshots", "plugins/audit-archive",
    ]

    /// Replaces the databases of `dataDirectory` with those of a backup, each with a new epoch, and
    /// puts back the rest of the backup's state (``stateFiles``): restored into an empty
    /// directory, a broker serves from it as the backed-up one did. Fails if a broker is serving
    /// the directory.
    public static func restore(
        from backup: URL, to dataDirectory: URL, progress: ((_ file: String, _ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> [String: String] {
        let files = FileManager.default
        guard files.fileExists(atPath: backup.appendingPathComponent("backup.json").path) else {
            throw Failure(message: "\(backup.path) has no backup.json: not a sluice backup")
        }
        try DurableFile.createDirectory(dataDirectory)
        let lock = try DataDirectoryLock(directory: dataDirectory)
        defer { lock.release() }
        for path in stateFiles where files.fileExists(atPath: backup.appendingPathComponent(path).path) {
            let target = dataDirectory.appendingPathComponent(path)
            try? files.removeItem(at: target)
            try files.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try files.copyItem(at: backup.appendingPathComponent(path), to: target)
            try DurableFile.syncTree(target)
            try DurableFile.syncDirectory(of: target)
        }
        var epochs: [String: String] = [:]
        let names = try databaseFiles(in: backup)
        for (index, name) in names.enumerated() {
            progress?(name, index, names.count)
            let target = dataDirectory.appendingPathComponent(name)
            try files.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            for suffix in ["", "-wal", "-shm"] { try? files.removeItem(atPath: target.path + suffix) }
            try files.copyItem(at: backup.appendingPathComponent(name), to: target)
            let epoch = UUID().uuidString.lowercased()
            let queue = try DatabaseQueue(path: target.path)
            let stamped = try queue.write { db -> Bool in
                guard try db.tableExists("sluice_meta") else { return false }  // core.db has no streams
                try db.execute(
                    sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES ('epoch', ?)", arguments: [epoch])
                return true
            }
            try queue.close()
            try DurableFile.syncTree(target)
            try DurableFile.syncDirectory(of: target)
            if stamped { epochs[String(name.dropLast(3))] = epoch }
        }
        return epochs
    }

    /// The database files of a data directory (or backup), relative: `tasks.db`, `plugins/notes.db`.
    private static func databaseFiles(in directory: URL) throws -> [String] {
        let files = FileManager.default
        let top = try files.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".db") }
        let plugins = ((try? files.contentsOfDirectory(atPath: directory.appendingPathComponent("plugins").path)) ?? [])
            .filter { $0.hasSuffix(".db") }.map { "plugins/" + $0 }
        return (top + plugins).sorted()
    }
}
