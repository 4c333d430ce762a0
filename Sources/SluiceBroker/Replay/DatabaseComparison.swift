import GRDB
import SluiceWire

/// Compares the user tables (everything but `sluice_*`, SQLite's own and projection tables, which
/// the log does not fill: the broker copies them from their source) of two databases, row by row,
/// and describes each difference.
enum DatabaseComparison {
    static func differences(live: Database, rebuilt: DatabasePool) throws -> [String] {
        let liveTables = try userTables(live)
        let rebuiltTables = try rebuilt.read { try userTables($0) }
        var found: [String] = []
        for table in Set(liveTables).symmetricDifference(rebuiltTables).sorted() {
            found.append("table \(table) exists in only one of the databases")
        }
        for table in liveTables where rebuiltTables.contains(table) {
            let order = try orderClause(table, live)
            let sql = "SELECT * FROM \(table.quotedDatabaseIdentifier) ORDER BY \(order)"
            // Read through SQLite's C API: each value exactly, text with every byte (GRDB's rows
            // stop at a NUL, so two texts differing after one would compare equal).
            let liveRows = try live.makeStatement(sql: sql)
            try rebuilt.read { db in
                let rebuiltRows = try db.makeStatement(sql: sql)
                var index = 0
                while true {
                    let left = try nextRow(of: liveRows, in: live)
                    let right = try nextRow(of: rebuiltRows, in: db)
                    if left == nil && right == nil { break }
                    if left != right {
                        let describe = { (row: [JSONValue]?) in row.map { JSONValue.array($0).canonicalString } ?? "(none)" }
                        found.append(
                            "table \(table), row \(index + 1) in \(order) order: live \(describe(left)), rebuilt \(describe(right))"
                        )
                        break
                    }
                    index += 1
                }
            }
        }
        return found
    }

    /// The next row of `statement` (stepped once), its columns as JSON values; nil past the last.
    private static func nextRow(of statement: Statement, in db: Database) throws -> [JSONValue]? {
        guard let handle = try statement.stepDirect(in: db) else { return nil }
        return Statement.jsonValues(handle)
    }

    private static func userTables(_ db: Database) throws -> [String] {
        let projections =
            try db.tableExists("sluice_projections")
            ? Set(try String.fetchAll(db, sql: "SELECT target_table FROM sluice_projections")) : []
        return try String.fetchAll(
            db,
            sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'sluice_%'
                ORDER BY name
                """
        ).filter { !projections.contains($0) }
    }

    /// `rowid` when the table has one, else every column (a WITHOUT ROWID table's primary key is
    /// among them, so the order is total).
    private static func orderClause(_ table: String, _ db: Database) throws -> String {
        let withoutRowID =
            try Bool.fetchOne(
                db, sql: "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE name = ?", arguments: [table]
            ) ?? false
        if !withoutRowID { return "rowid" }
        let columns = try db.columns(in: table).map(\.name.quotedDatabaseIdentifier)
        return columns.joined(separator: ", ")
    }
}
