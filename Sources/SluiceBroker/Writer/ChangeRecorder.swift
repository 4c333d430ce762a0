import CSQLite
import Foundation
import GRDB

/// Collects which user rows a command changed, from SQLite's update hook on the writer's
/// connection.
///
/// The hook is installed straight on the connection, not through GRDB's transaction observers:
/// the writer steps contract statements through SQLite's C API (``PreparedContract``), which
/// GRDB's observation never sees, and GRDB installs no hook of its own while nobody observes.
/// Changes arrive as SQLite makes them, inside savepoints too; the writer takes them after each
/// command and drops them when the command or the batch is undone.
///
/// A pre-update hook that does nothing is installed with it: while one is set, SQLite compiles
/// `DELETE FROM t` (no WHERE) as row-by-row deletes instead of erasing the table at once (the
/// "truncate optimization"), which the update hook would not see. It is read when a statement
/// compiles, so the recorder is installed before the writer prepares any.
final class ChangeRecorder {
    struct Change {
        var table: String
        var rowID: Int64
    }

    private(set) var changes: [Change] = []
    /// Tables whose changes are not a command's: the projection tables the broker refreshes.
    let ignored: Set<String>
    /// The last table SQLite named and whether its changes count: a command's changes are
    /// nearly always to one or two tables, so this spares a String per change.
    private var lastTable: (name: String, counts: Bool)?

    init(ignoring ignored: Set<String> = []) { self.ignored = ignored }

    /// Installs the hooks for as long as the connection lives (the recorder must outlive it).
    func install(on db: Database) {
        guard let connection = db.sqliteConnection else { return }
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_update_hook(
            connection,
            { context, _, _, table, rowID in
                guard let context, let table else { return }
                Unmanaged<ChangeRecorder>.fromOpaque(context).takeUnretainedValue().record(table, rowID)
            }, context)
        sqlite3_preupdate_hook(connection, { _, _, _, _, _, _, _ in }, nil)
    }

    /// Runs `body` with the pre-update hook off, for work whose changes nobody records (a
    /// projection refresh emptying its table): a `DELETE` without `WHERE` compiled inside it may
    /// erase the table at once.
    func withoutRowByRowDeletes<T>(on db: Database, _ body: () throws -> T) rethrows -> T {
        guard let connection = db.sqliteConnection else { return try body() }
        sqlite3_preupdate_hook(connection, nil, nil)
        defer { sqlite3_preupdate_hook(connection, { _, _, _, _, _, _, _ in }, nil) }
        return try body()
    }

    private func record(_ table: UnsafePointer<CChar>, _ rowID: Int64) {
        // The ledger and the log change with every command: no String for them.
        if strncmp(table, "sluice_", 7) == 0 { return }
        if let last = lastTable, last.name.withCString({ strcmp($0, table) == 0 }) {
            if last.counts { changes.append(Change(table: last.name, rowID: rowID)) }
            return
        }
        let name = String(cString: table)
        let counts = !ignored.contains(name.lowercased())
        lastTable = (name, counts)
        if counts { changes.append(Change(table: name, rowID: rowID)) }
    }

    /// What was recorded since the last call, as one command's summary; then forgotten. The
    /// buffer stays for the next command: handing it out whole made a new one per command.
    func takeSummary(keys: [String]) -> ChangeSummary {
        defer { changes.removeAll(keepingCapacity: true) }
        return ChangeSummary(changes, keys: keys)
    }

    /// Forgets what was recorded since the last call (the command or the batch was undone).
    func drop() { changes.removeAll(keepingCapacity: true) }
}
