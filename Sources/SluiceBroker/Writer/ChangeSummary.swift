import SluiceWire

/// What one command changed, in the shape the log row and the `inval.<db>` event carry:
/// `{"keys":["tasks:open"],"tables":{"tasks":[3,4]}}` (tables in UTF-8 order, row ids sorted,
/// without repeats).
///
/// Built once per command on the writer, bytes included: the log row, the audit event and the
/// invalidation event all reuse them. A command changes a row or a few, so the changes are sorted
/// in place and grouped in one pass rather than through a dictionary of sets.
struct ChangeSummary {
    struct Table {
        var name: String
        var rows: [Int64]
    }

    /// In UTF-8 byte order of their names.
    let tables: [Table]
    let keys: [String]
    /// `{"tasks":[1,2]}`, canonical.
    let tablesBytes: [UInt8]
    /// `{"keys":[...],"tables":{...}}`, canonical.
    let canonicalBytes: [UInt8]

    init(_ changes: [ChangeRecorder.Change], keys: [String], rowIDs: Bool = true) {
        var sorted = changes
        if sorted.count > 1 {
            sorted.sort { left, right in
                if JSONValue.utf8Precedes(left.table, right.table) { return true }
                if JSONValue.utf8Precedes(right.table, left.table) { return false }
                return left.rowID < right.rowID
            }
        }
        var tables: [Table] = []
        for change in sorted {
            if let last = tables.indices.last, tables[last].name.utf8.elementsEqual(change.table.utf8) {
                if rowIDs, tables[last].rows.last != change.rowID { tables[last].rows.append(change.rowID) }
            } else {
                tables.append(Table(name: change.table, rows: rowIDs ? [change.rowID] : []))
            }
        }
        self.tables = tables
        self.keys = keys

        var tablesWriter = CanonicalObjectWriter(capacity: 32 + 16 * sorted.count)
        for table in tables { tablesWriter.integers(named: table.name, table.rows) }
        tablesBytes = tablesWriter.finish()

        var writer = CanonicalObjectWriter(capacity: tablesBytes.count + 32)
        writer.strings("keys", keys)
        writer.raw("tables", tablesBytes)
        canonicalBytes = writer.finish()
    }

    /// What a command of a database without row ids changed (PostgreSQL): the tables its
    /// statements write, each with no rows listed.
    init(tables names: [String], keys: [String]) {
        self.init(names.map { ChangeRecorder.Change(table: $0, rowID: 0) }, keys: keys, rowIDs: false)
    }

    /// The names of the tables that changed.
    var tableNames: [String] { tables.map(\.name) }
}
