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

    var json: JSONValue {
        [
            "tables": .object(rowsByTable.mapValues { .array($0.map(JSONValue.int)) }),
            "keys": .array(keys.map(JSONValue.string)),
        ]
    }
}
