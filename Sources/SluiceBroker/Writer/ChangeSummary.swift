import SluiceWire

/// What one command changed, in the shape the log row and the `inval.<db>` event carry:
/// `{"keys":["tasks:open"],"tables":{"tasks":[3,4]}}` (tables in UTF-8 order, row ids sorted,
/// without repeats).
///
/// Built once per command on the writer, bytes included: the log row, the audit event and the
/// invalidation event all reuse them. A command changes a row or a few, so the changes are sorted
/// and grouped in one pass rather than through a dictionary of sets.
struct ChangeSummary {
    /// The changed tables' names, in UTF-8 byte order.
    let tableNames: [String]
    let keys: [String]
    /// `{"keys":[...],"tables":{...}}`, canonical.
    let canonicalBytes: [UInt8]
    /// Where `tablesBytes` lie in `canonicalBytes`.
    private let tablesRange: Range<Int>

    /// `{"tasks":[1,2]}`, canonical: the `tables` member's value, inside ``canonicalBytes``.
    var tablesBytes: ArraySlice<UInt8> { canonicalBytes[tablesRange] }

    /// `changes` in any order. Written in one pass into one buffer: the names, and the bytes with
    /// the tables' object inside them (a command's summary used to take five allocations; it was
    /// 9% of a replay's writer thread, the thread that bounds a replay).
    init(_ changes: [ChangeRecorder.Change], keys: [String], rowIDs: Bool = true) {
        // Nearly always one change: nothing to sort, and no copy of the recorder's buffer.
        let sorted =
            changes.count < 2
            ? changes
            : changes.sorted { left, right in
                if JSONValue.utf8Precedes(left.table, right.table) { return true }
                if JSONValue.utf8Precedes(right.table, left.table) { return false }
                return left.rowID < right.rowID
            }
        self.keys = keys
        var bytes: [UInt8] = []
        bytes.reserveCapacity(48 + 16 * sorted.count + keys.reduce(0) { $0 + $1.utf8.count + 3 })
        bytes.append(contentsOf: #"{"keys":["#.utf8)
        for (position, key) in keys.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONValue.appendString(key, to: &bytes)
        }
        bytes.append(contentsOf: #"],"tables":"#.utf8)
        let tablesStart = bytes.count
        bytes.append(UInt8(ascii: "{"))
        var names: [String] = []
        var lastRowID: Int64?
        for change in sorted {
            if let last = names.last, last.utf8.elementsEqual(change.table.utf8) {
                // The same table's next row: listed once, in order.
                guard rowIDs, lastRowID != change.rowID else { continue }
                bytes.append(UInt8(ascii: ","))
            } else {
                if !names.isEmpty { bytes.append(contentsOf: "],".utf8) }
                names.append(change.table)
                JSONValue.appendString(change.table, to: &bytes)
                bytes.append(contentsOf: ":[".utf8)
                guard rowIDs else { continue }
            }
            JSONValue.appendInteger(change.rowID, to: &bytes)
            lastRowID = change.rowID
        }
        if !names.isEmpty { bytes.append(UInt8(ascii: "]")) }
        bytes.append(UInt8(ascii: "}"))
        tablesRange = tablesStart..<bytes.count
        bytes.append(UInt8(ascii: "}"))
        tableNames = names
        canonicalBytes = bytes
    }

    /// What a command of a database without row ids changed (PostgreSQL): the tables its
    /// statements write, each with no rows listed.
    init(tables names: [String], keys: [String]) {
        self.init(names.map { ChangeRecorder.Change(table: $0, rowID: 0) }, keys: keys, rowIDs: false)
    }
}
