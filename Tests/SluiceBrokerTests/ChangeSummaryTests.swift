import Foundation
import GRDB
import SluiceTestSupport
import SluiceWire
import Testing

@testable import SluiceBroker

/// What a command changed, as the log row and the `inval.<db>` event carry it: written in one
/// pass, it must be the canonical object — tables in UTF-8 order, each one's row ids sorted and
/// listed once — whatever order SQLite reported the changes in.
struct ChangeSummaryTests {
    typealias Change = ChangeRecorder.Change

    @Test func changesInAnyOrderGiveTheCanonicalObject() throws {
        // "é" (0xC3 0xA9) sorts after "z" in UTF-8, before it in some collations.
        let changes = [
            Change(table: "tasks", rowID: 3), Change(table: "é", rowID: 9), Change(table: "audit", rowID: 2),
            Change(table: "tasks", rowID: 1), Change(table: "tasks", rowID: 3), Change(table: "z", rowID: -4),
            Change(table: "audit", rowID: 2),
        ]
        let summary = ChangeSummary(changes, keys: ["tasks:open", "quote\"d"])
        let tables = #"{"audit":[2],"tasks":[1,3],"z":[-4],"é":[9]}"#
        let expected = #"{"keys":["tasks:open","quote\"d"],"tables":"# + tables + "}"
        #expect(String(decoding: summary.canonicalBytes, as: UTF8.self) == expected)
        #expect(String(decoding: summary.tablesBytes, as: UTF8.self) == tables)
        #expect(summary.tableNames == ["audit", "tasks", "z", "é"])
        // The same object a JSON value encodes canonically.
        #expect(try JSONValue(parsing: summary.canonicalBytes).canonicalBytes() == summary.canonicalBytes)
    }

    @Test func oneChangeNoChangesAndTablesWithoutRowIDs() {
        let one = ChangeSummary([Change(table: "tasks", rowID: 7)], keys: [])
        #expect(String(decoding: one.canonicalBytes, as: UTF8.self) == #"{"keys":[],"tables":{"tasks":[7]}}"#)
        #expect(one.tableNames == ["tasks"])

        let none = ChangeSummary([], keys: ["k"])
        #expect(String(decoding: none.canonicalBytes, as: UTF8.self) == #"{"keys":["k"],"tables":{}}"#)
        #expect(String(decoding: none.tablesBytes, as: UTF8.self) == "{}")
        #expect(none.tableNames.isEmpty)

        // PostgreSQL's: the tables a contract writes, no rows listed, each once.
        let named = ChangeSummary(tables: ["notes", "authors", "notes"], keys: ["notes"])
        #expect(
            String(decoding: named.canonicalBytes, as: UTF8.self)
                == #"{"keys":["notes"],"tables":{"authors":[],"notes":[]}}"#)
        #expect(named.tableNames == ["authors", "notes"])
    }

    /// The recorder sees a real connection's changes (not the broker's `sluice_*` tables), hands
    /// them to the summary and starts the next command empty; a dropped command's are gone.
    @Test func theRecorderSummarizesEachCommandOnce() throws {
        let directory = TemporaryDirectory()
        let queue = try DatabaseQueue(path: directory.path("changes.db").path)
        let recorder = ChangeRecorder()
        try queue.inDatabase { db in
            recorder.install(on: db)
            try db.execute(sql: "CREATE TABLE tasks(id INTEGER PRIMARY KEY, title TEXT)")
            try db.execute(sql: "CREATE TABLE sluice_log(seq INTEGER PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO tasks(id, title) VALUES (5, 'a'), (2, 'b')")
            try db.execute(sql: "INSERT INTO sluice_log(seq) VALUES (1)")
            let first = recorder.takeSummary(keys: [])
            #expect(String(decoding: first.canonicalBytes, as: UTF8.self) == #"{"keys":[],"tables":{"tasks":[2,5]}}"#)

            try db.execute(sql: "UPDATE tasks SET title = 'c' WHERE id = 2")
            let second = recorder.takeSummary(keys: ["k"])
            #expect(String(decoding: second.canonicalBytes, as: UTF8.self) == #"{"keys":["k"],"tables":{"tasks":[2]}}"#)

            try db.execute(sql: "DELETE FROM tasks WHERE id = 5")
            recorder.drop()
            #expect(recorder.takeSummary(keys: []).tableNames.isEmpty)
        }
    }
}
