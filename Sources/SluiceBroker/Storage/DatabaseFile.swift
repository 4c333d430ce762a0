public import Foundation
public import GRDB
import SluiceWire

/// One broker-owned SQLite file: its connection pool, and the internal tables that live beside the
/// user's tables so data, ledger and log commit in one transaction.
public final class DatabaseFile: Sendable {
    /// How long a connection waits for a lock before SQLITE_BUSY (the writer's idle checkpoint
    /// never waits; see `CommandWriter.checkpoint`).
    static let busyTimeoutMs: Int32 = 5000

    public let name: String
    public let url: URL
    /// WAL pool: one writer connection (used only by this database's writer thread) and readers.
    public let pool: DatabasePool
    /// Changes when the database's history is replaced (restore, rebuild).
    public let epoch: String

    /// The level every commit on this file syncs with, set on the writer connection and read back.
    public let synchronous: SynchronousMode

    /// How long ledger entries answer for their key, in milliseconds (stored in `sluice_meta` so
    /// a replay judges expiry exactly as the broker did).
    public let ledgerRetentionMs: Int64

    /// Opens (creating if needed) `<directory>/<file>` (default `<name>.db`), installs the
    /// internal tables and runs `migrations` that have not run yet. With `maxBytes`, writes that
    /// would grow the file past it fail with SQLITE_FULL (`storage_limit`). Plugin migrations run
    /// unconfined here: to open a database of a registry, use ``open(_:registry:dataDirectory:synchronous:)``.
    public convenience init(
        name: String, directory: URL, file: String? = nil, migrations: [Migration], synchronous: SynchronousMode = .full,
        ledgerRetentionMs: Int64? = nil, maxBytes: Int64? = nil
    ) throws {
        try self.init(
            name: name, directory: directory, file: file, migrations: migrations, synchronous: synchronous,
            ledgerRetentionMs: ledgerRetentionMs, maxBytes: maxBytes, isolation: nil)
    }

    /// Opens `database` of `registry` in `dataDirectory` as the broker does: its file, migrations
    /// and storage limit from the registry, and plugins confined to their own tables (a plugin
    /// whose migrations or contracts reach further throws ``IsolationError``).
    public static func open(
        _ database: String, registry: ContractRegistry, dataDirectory: URL, synchronous: SynchronousMode = .full
    ) throws -> DatabaseFile {
        guard !registry.postgresDatabases.contains(database) else {
            throw BrokerStateError(
                message:
                    "\(database) is an exclusive-postgres plugin's database: it has no file here, and its migrations run in PostgreSQL when the broker connects to the server (sluice serve --postgres-url)")
        }
        let isolation = try PluginIsolation(registry: registry)
        return try DatabaseFile(
            name: database, directory: dataDirectory, file: registry.file(of: database),
            migrations: registry.migrations[database] ?? [], synchronous: synchronous,
            maxBytes: registry.storageLimit(of: database), isolation: isolation.rules(for: database, in: registry))
    }

    /// With `isolation`, plugins' migrations run confined to their own tables and their contracts'
    /// statements are checked the same way; a breach throws ``IsolationError``.
    init(
        name: String, directory: URL, file: String? = nil, migrations: [Migration], synchronous: SynchronousMode = .full,
        ledgerRetentionMs: Int64? = nil, maxBytes: Int64? = nil,
        walSizeLimitBytes: Int64 = DatabaseFile.defaultWALSizeLimitBytes, isolation: DatabaseIsolation?
    ) throws {
        self.name = name
        self.url = directory.appendingPathComponent(file ?? "\(name).db")
        self.synchronous = synchronous
        try DurableFile.createDirectory(url.deletingLastPathComponent())
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(TimeInterval(DatabaseFile.busyTimeoutMs) / 1000)
        configuration.maximumReaderCount = 4
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // The WAL is kept (and overwritten) up to this size when it starts over, not cut to
            // nothing: see ``CommandWriter`` `checkpoint()`.
            _ = try Int64.fetchOne(db, sql: "PRAGMA journal_size_limit = \(max(0, walSizeLimitBytes))")
            if let maxBytes {
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                _ = try Int64.fetchOne(db, sql: "PRAGMA max_page_count = \(max(1, maxBytes / pageSize))")
            }
        }
        // Set-up (schema, migrations, epoch, isolation checks) runs on a connection of its own,
        // under the plugin authorizer, and commits with FULL; the pool's connections never carry
        // that authorizer (GRDB's own observes their statements).
        let setup = try DatabaseQueue.openForSetUp(at: url, configuration: configuration)
        let authorizer = PluginSQLAuthorizer()
        try setup.inDatabase { authorizer.install(on: $0) }
        (epoch, self.ledgerRetentionMs) = try setup.write { db in
            try IdempotencyLedger.moveToRowidLayout(in: db)
            try db.execute(sql: DatabaseFile.internalSchema)
            try CommandLog.addMissingColumns(in: db)
            if let isolation { try ProjectionTable.prepare(isolation.projections, in: db) }
            try MigrationRunner.run(migrations, in: db, isolation: isolation, authorizer: authorizer)
            try isolation?.checkContracts(in: db, authorizer: authorizer)
            if let ledgerRetentionMs {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES ('ledger_retention_ms', ?)",
                    arguments: [String(ledgerRetentionMs)]
                )
            }
            let retention =
                try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'ledger_retention_ms'")
                .flatMap { Int64($0) } ?? DatabaseFile.defaultLedgerRetentionMs
            return (try StreamEpoch.begin(in: db, mode: synchronous), retention)
        }
        try setup.close()
        pool = try DatabasePool(path: url.path, configuration: configuration)
        try synchronous.apply(to: pool)
    }

    /// The level the writer connection commits with right now (read from the connection).
    public func writerSynchronousMode() throws -> SynchronousMode? {
        try SynchronousMode.current(of: pool)
    }

    /// Seven days.
    public static let defaultLedgerRetentionMs: Int64 = 7 * 24 * 3600 * 1000

    /// 8 MiB: twice the WAL of SQLite's 1,000-page auto-checkpoint.
    public static let defaultWALSizeLimitBytes: Int64 = 8 << 20

    /// The highest seq in the command log (0 when empty).
    public func lastSeq() throws -> Int64 {
        try pool.read { db in try DatabaseFile.lastSeq(in: db) }
    }

    /// The highest seq this database has assigned: the log's newest row, or the seq of the last
    /// compaction snapshot when the log was compacted down to nothing.
    static func lastSeq(in db: Database) throws -> Int64 {
        // Cached statements: every query answer and SYNC page asks, and compiling cost more than
        // the lookups.
        let logged = try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM sluice_log")) ?? 0
        return max(logged, try meta("snapshot_seq", in: db) ?? 0)
    }

    /// The oldest seq still in the log (1 until a compaction).
    static func firstLoggedSeq(in db: Database) throws -> Int64 {
        try meta("log_first_seq", in: db) ?? 1
    }

    static func meta(_ key: String, in db: Database) throws -> Int64? {
        let value = try String.fetchOne(
            db.cachedStatement(sql: "SELECT value FROM sluice_meta WHERE key = ?"), arguments: [key])
        return value.flatMap { Int64($0) }
    }

    static let internalSchema = """
        CREATE TABLE IF NOT EXISTS sluice_meta(
            key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sluice_migrations(
            name TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sluice_ledger(\(IdempotencyLedger.columns));
        CREATE UNIQUE INDEX IF NOT EXISTS sluice_ledger_key ON sluice_ledger(actor, idempotency_key);
        CREATE INDEX IF NOT EXISTS sluice_ledger_expiry ON sluice_ledger(expires_ms);
        CREATE TABLE IF NOT EXISTS sluice_log(
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            actor TEXT NOT NULL,
            contract TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            request_id TEXT NOT NULL,
            generated_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            result TEXT NOT NULL,
            changes TEXT NOT NULL,
            latency_us INTEGER NOT NULL,
            context TEXT,
            payload_hash TEXT,
            expires_ms INTEGER);
        CREATE INDEX IF NOT EXISTS sluice_log_key ON sluice_log(actor, idempotency_key);
        """
}
