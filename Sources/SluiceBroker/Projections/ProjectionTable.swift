import Foundation
import GRDB
import SluiceWire

/// A projection's table in its target database, and the row of `sluice_projections` beside it that
/// records which source seq the table reflects. Only the target database's writer (or, before the
/// writers start, the broker's set-up) calls these, inside its own transaction.
enum ProjectionTable {
    /// What a projection's table reflects, as recorded in the same transaction as its rows.
    struct State: Sendable, Equatable {
        var name: String
        var checksum: String
        var sourceDatabase: String
        var sourceEpoch: String
        /// Every source command up to this seq is reflected, none after.
        var sourceSeq: Int64
        var rows: Int64
        var refreshedAt: String
        /// How long the refresh took (read, delete, insert; not the commit), in microseconds.
        var micros: Int64 = 0
    }

    static let schema = """
        CREATE TABLE IF NOT EXISTS sluice_projections(
            name TEXT PRIMARY KEY,
            target_table TEXT NOT NULL,
            checksum TEXT NOT NULL,
            source_db TEXT NOT NULL,
            source_epoch TEXT NOT NULL,
            source_seq INTEGER NOT NULL,
            row_count INTEGER NOT NULL,
            refreshed_at TEXT NOT NULL) WITHOUT ROWID
        """

    /// At set-up, before the plugins' migrations: creates each projection's table; drops and
    /// recreates it when its definition changed (its state goes, so it is rebuilt); drops the
    /// tables of projections no longer defined.
    static func prepare(_ projections: [Projection], in db: Database) throws {
        try db.execute(sql: schema)
        let recorded = try Row.fetchAll(db, sql: "SELECT name, target_table, checksum FROM sluice_projections")
        for row in recorded {
            let name: String = row["name"]
            let table: String = row["target_table"]
            let checksum: String = row["checksum"]
            if let current = projections.first(where: { $0.name == name }), current.checksum == checksum,
                current.table == table
            {
                continue
            }
            try db.execute(sql: "DROP TABLE IF EXISTS \"\(table)\"")
            try db.execute(sql: "DELETE FROM sluice_projections WHERE name = ?", arguments: [name])
        }
        for projection in projections where try !db.tableExists(projection.table) {
            try db.execute(sql: projection.createTableSQL)
        }
    }

    static func state(of name: String, in db: Database) throws -> State? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT name, checksum, source_db, source_epoch, source_seq, row_count, refreshed_at
                    FROM sluice_projections WHERE name = ?
                    """, arguments: [name])
        else { return nil }
        return State(
            name: row["name"], checksum: row["checksum"], sourceDatabase: row["source_db"],
            sourceEpoch: row["source_epoch"], sourceSeq: row["source_seq"], rows: row["row_count"],
            refreshedAt: row["refreshed_at"])
    }

    /// Whether `state` is exactly the source as it stands: same definition, same history, same seq.
    static func isCurrent(_ state: State?, _ projection: Projection, source: DatabaseFile) throws -> Bool {
        guard let state else { return false }
        return try state.checksum == projection.checksum && state.sourceEpoch == source.epoch
            && state.sourceSeq == source.lastSeq()
    }

    /// Replaces the table's rows with the query's rows from one snapshot of the source, and records
    /// that snapshot's seq, inside the caller's transaction on the target. Rows stream from the
    /// source statement into the target's through SQLite's C API (`Statement.copyRows`): nothing
    /// is held in memory but one row, and no Swift value is made per row (a GRDB cursor's rows
    /// and arguments cost 10× the SQLite work; measured in benchmarks.md).
    static func refresh(_ projection: Projection, from source: DatabaseFile, in db: Database) throws -> State {
        let started = Clock.monotonicNanoseconds()
        let insert = try db.cachedStatement(sql: projection.insertSQL)
        let (seq, rows) = try source.pool.read { sourceDB -> (Int64, Int64) in
            let seq = try DatabaseFile.lastSeq(in: sourceDB)
            let statement = try sourceDB.cachedStatement(sql: projection.query)
            try statement.setArguments(arguments(projection, statement))
            // Compiled here, not cached: the writer runs this with its pre-update hook off, and
            // SQLite decides at compile time to empty the table at once rather than row by row.
            try db.execute(sql: "DELETE FROM \"\(projection.table)\"")
            return (seq, try statement.copyRows(from: sourceDB, into: insert, in: db))
        }
        let state = State(
            name: projection.name, checksum: projection.checksum, sourceDatabase: source.name,
            sourceEpoch: source.epoch, sourceSeq: seq, rows: rows, refreshedAt: Clock.timestamp(),
            micros: Int64((Clock.monotonicNanoseconds() - started) / 1000))
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO sluice_projections(
                    name, target_table, checksum, source_db, source_epoch, source_seq, row_count, refreshed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                state.name, projection.table, state.checksum, state.sourceDatabase, state.sourceEpoch, state.sourceSeq,
                state.rows, state.refreshedAt,
            ])
        return state
    }

    /// The query's fixed parameters, by name, for `statement`.
    static func arguments(_ projection: Projection, _ statement: Statement) throws -> StatementArguments {
        var named: [String: (any DatabaseValueConvertible)?] = [:]
        for (name, value) in projection.parameters { named[name] = ContractRunner.databaseValue(value) }
        return StatementArguments(named)
    }

    /// Proves the query compiles on the source, is read-only and yields the declared columns;
    /// returns the tables it reads (what invalidates it).
    static func check(_ projection: Projection, source: DatabaseFile) throws -> DatabaseRegion {
        try source.pool.read { db in
            let statement: Statement
            do {
                statement = try db.makeStatement(sql: projection.query)
            } catch {
                throw ContractError(file: projection.file, "the projection's query does not compile: \(error)")
            }
            guard statement.isReadonly else {
                throw ContractError(file: projection.file, "the projection's query writes; it must be read-only")
            }
            guard statement.columnNames.map({ $0.lowercased() }) == projection.columns else {
                throw ContractError(
                    file: projection.file,
                    "the query's result columns are \(statement.columnNames) but 'columns' declares \(projection.columns)")
            }
            do {
                try statement.setArguments(arguments(projection, statement))
            } catch {
                throw ContractError(file: projection.file, "the query's parameters do not match 'source.params': \(error)")
            }
            return statement.databaseRegion
        }
    }
}
