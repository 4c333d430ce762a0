import GRDB
import SluiceWire

/// Applies a database's migrations forward-only, each once, recording name and checksum.
enum MigrationRunner {
    /// Why a database's recorded migrations disagree with the files.
    struct Mismatch: Error, CustomStringConvertible {
        var name: String
        var recorded: String
        var current: String
        var description: String {
            "migration \(name) changed after it ran (recorded checksum \(recorded.prefix(12))…, file now \(current.prefix(12))…); add a new migration instead of editing an applied one"
        }
    }

    /// Runs what has not run yet. A plugin's migration runs under `authorizer` with its plugin's
    /// scope from `isolation`: it may create objects and change only the ones its plugin owns.
    static func run(
        _ migrations: [Migration], in db: Database, isolation: DatabaseIsolation? = nil,
        authorizer: PluginSQLAuthorizer? = nil
    ) throws {
        let applied = try Row.fetchAll(db, sql: "SELECT name, checksum FROM sluice_migrations")
        var recorded: [String: String] = [:]
        for row in applied { recorded[row["name"]] = row["checksum"] }
        for migration in migrations {
            if let checksum = recorded[migration.name] {
                guard checksum == migration.checksum else {
                    throw Mismatch(name: migration.name, recorded: checksum, current: migration.checksum)
                }
                continue
            }
            if let plugin = migration.plugin, let isolation, let authorizer {
                authorizer.scope = isolation.scope(for: plugin, .migration)
                authorizer.clearDenial()
                defer { authorizer.scope = nil }
                do {
                    try db.execute(sql: migration.sql)
                } catch let error as DatabaseError where authorizer.denial != nil {
                    throw IsolationError(plugin: plugin, place: "migration \(migration.name)", reason: authorizer.denial ?? "\(error)")
                }
            } else {
                try db.execute(sql: migration.sql)
            }
            try db.execute(
                sql: "INSERT INTO sluice_migrations(name, checksum, applied_at) VALUES (?, ?, ?)",
                arguments: [migration.name, migration.checksum, Clock.timestamp()]
            )
        }
    }
}
