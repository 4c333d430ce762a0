import GRDB

/// Collects which user rows a command changed, from SQLite's update hook through GRDB.
///
/// GRDB holds events raised inside a savepoint until it is released and drops them on rollback,
/// so after each command's RELEASE the recorder holds exactly that command's changes.
final class ChangeRecorder: TransactionObserver {
    struct Change: Hashable {
        var table: String
        var rowID: Int64
    }

    private(set) var changes: [Change] = []
    /// Tables whose changes are not a command's: the projection tables the broker refreshes.
    let ignored: Set<String>

    init(ignoring ignored: Set<String> = []) { self.ignored = ignored }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        !eventKind.tableName.hasPrefix("sluice_") && !ignored.contains(eventKind.tableName.lowercased())
    }

    func databaseDidChange(with event: DatabaseEvent) {
        changes.append(Change(table: event.tableName, rowID: event.rowID))
    }

    func databaseDidCommit(_ db: Database) {}
    func databaseDidRollback(_ db: Database) { changes.removeAll() }

    /// Returns and forgets what was recorded since the last call.
    func take() -> [Change] {
        defer { changes.removeAll(keepingCapacity: true) }
        return changes
    }
}
