import GRDB

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
            let liveRows = try Row.fetchCursor(live, sql: sql)
            try rebuilt.read { db in
                let rebuiltRows = try Row.fetchCursor(db, sql: sql)
                var index = 0
                while true {
                    let left = try liveRows.next()
                    let right = try rebuiltRows.next()
                    if left == nil && right == nil { break }
                    if left != right {
                        found.append(
                            "table \(table), row \(index + 1) in \(order) order: live \(left.map { "\($0)" } ?? "(none)"), rebuilt \(right.map { "\($0)" } ?? "(none)")"
                        )
                        break
                    }
                    index += 1
                }
            }
        }
        return found
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
