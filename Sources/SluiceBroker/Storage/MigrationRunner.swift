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

    static func run(_ migrations: [Migration], in db: Database) throws {
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
            try db.execute(sql: migration.sql)
            try db.execute(
                sql: "INSERT INTO sluice_migrations(name, checksum, applied_at) VALUES (?, ?, ?)",
                arguments: [migration.name, migration.checksum, Clock.timestamp()]
            )
        }
    }
}
