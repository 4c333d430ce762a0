import SluiceWire

/// What one command changed, in the shape the log row and the `inval.<db>` event carry:
/// `{"tables": {"tasks": [3, 4]}, "keys": ["tasks:open"]}` (row ids sorted, without repeats).
struct ChangeSummary {
    var rowsByTable: [String: [Int64]]
    var keys: [String]

    init(_ changes: [ChangeRecorder.Change], keys: [String]) {
        var grouped: [String: Set<Int64>] = [:]
        for change in changes { grouped[change.table, default: []].insert(change.rowID) }
        rowsByTable = grouped.mapValues { $0.sorted() }
        self.keys = keys
    }

    /// `{"keys":[...],"tables":{...}}`, canonical.
    var canonicalBytes: [UInt8] {
        var writer = CanonicalObjectWriter()
        writer.value("keys", .array(keys.map(JSONValue.string)))
        writer.raw("tables", tablesBytes)
        return writer.finish()
    }

    /// `{"tasks":[1,2]}`, canonical.
    var tablesBytes: [UInt8] {
        var writer = CanonicalObjectWriter()
        for table in rowsByTable.keys.sorted(by: JSONValue.utf8Precedes) {
            writer.value(table, .array(rowsByTable[table]!.map(JSONValue.int)))
        }
        return writer.finish()
    }
}
