import Foundation
import GRDB
import Logging
import SluiceWire

#if canImport(Glibc)
    import Glibc
#endif

extension CommandWriter {
    /// Bounds the command log: snapshots the database as of its newest seq S into
    /// `<data-dir>/snapshots/<db>.db` (data and ledger, without the log), then deletes the log rows
    /// older than the newest `keep`. Replay then starts from the snapshot and runs the log rows
    /// after S; `SYNC` below the oldest kept seq answers `compacted`.
    ///
    /// A log row is its command's idempotency entry too: the entries of the rows that go whose keys
    /// are still in force move into `sluice_ledger` first, in the same transaction (and in the
    /// snapshot, before its log goes), so a retry after a compaction is answered as before.
    ///
    /// Runs on the writer thread between batches, so the snapshot is exactly the state at S.
    func compact(keep: Int64) -> Result<JSONValue, WireError> {
        let head = nextSeq - 1
        let directory = database.url.deletingLastPathComponent().appendingPathComponent("snapshots")
        let snapshot = directory.appendingPathComponent("\(database.name).db")
        let staging = directory.appendingPathComponent("\(database.name).db.partial")
        do {
            try DurableFile.createDirectory(directory)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: staging.path + suffix) }
            // Copy the whole database (SQLite's online backup), then strip the log from the copy
            // and make it a plain, self-contained file.
            let copy = try DatabaseQueue(path: staging.path)
            try database.pool.backup(to: copy)
            let nowMs = Clock.now().milliseconds
            try copy.writeWithoutTransaction { db in
                try IdempotencyLedger.keepEntries(ofLogRowsThrough: head, nowMs: nowMs, in: db)
                try db.execute(sql: "DELETE FROM sluice_log")
                for (key, value) in [("snapshot_seq", head), ("log_first_seq", head + 1)] {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES (?, ?)",
                        arguments: [key, String(value)]
                    )
                }
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                try db.execute(sql: "VACUUM")
            }
            try copy.close()
            // Atomic and durable replacement: the copy's bytes are on disk before its name takes the
            // snapshot's, and that name is on disk before the log rows it replaces are deleted. A
            // crash or power cut leaves either the previous snapshot (and the full log) or this one.
            try DurableFile.syncTree(staging)
            guard rename(staging.path, snapshot.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: snapshot.path])
            }
            try DurableFile.syncDirectory(directory)

            let cutoff = max(0, head - keep)
            // The audit events of the rows about to go, archived (durably) first: a crash after this
            // leaves a segment whose rows are still in the log, never rows gone unarchived.
            let anchor = try archiveAuditEvents(through: cutoff)
            // Entries move into sluice_ledger: the next batch looks when the earliest expires.
            ledgerSweepDueMs = Int64.min
            let deleted = try database.pool.write { db in
                try IdempotencyLedger.keepEntries(ofLogRowsThrough: cutoff, nowMs: Clock.now().milliseconds, in: db)
                try db.execute(sql: "DELETE FROM sluice_log WHERE seq <= ?", arguments: [cutoff])
                let deleted = db.changesCount
                var meta = [("snapshot_seq", String(head)), ("log_first_seq", String(cutoff + 1))]
                if let anchor {
                    meta += [("audit_archived_seq", String(anchor.header.lastSeq)), ("audit_archive_sha256", anchor.sha256)]
                }
                for (key, value) in meta {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES (?, ?)",
                        arguments: [key, value]
                    )
                }
                return deleted
            }
            try database.pool.writeWithoutTransaction { db in
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
            logger.info(
                "compacted",
                metadata: ["db": "\(database.name)", "snapshot_seq": "\(head)", "log_rows_deleted": "\(deleted)"]
            )
            return .success([
                "db": .string(database.name), "snapshot": .string(snapshot.path), "snapshot_seq": .int(head),
                "first_seq": .int(cutoff + 1), "deleted": .int(Int64(deleted)),
            ])
        } catch {
            logger.error("compaction failed", metadata: ["db": "\(database.name)", "error": "\(error)"])
            return .failure(WireError(.internal, "compaction of \(database.name) failed: \(error)"))
        }
    }

    /// Largest number of events in one archive segment (a compaction of a long log writes several).
    static let eventsPerArchiveSegment: Int64 = 10_000

    /// Archives the audit events of the log rows after the archive's newest segment up to
    /// `cutoff`, in segments of at most ``eventsPerArchiveSegment``; returns the newest segment
    /// (the anchor the database records), nil when there is none.
    private func archiveAuditEvents(through cutoff: Int64) throws -> (header: AuditArchive.Header, sha256: String)? {
        let archive = AuditArchive(databaseAt: database.url)
        var newest = try archive.newest()
        let firstLogged = try database.pool.read { db in try DatabaseFile.firstLoggedSeq(in: db) }
        var from = max(newest.map { $0.header.lastSeq + 1 } ?? 1, firstLogged)
        while from <= cutoff {
            let through = min(cutoff, from + CommandWriter.eventsPerArchiveSegment - 1)
            let events = try database.pool.read { db in
                let rows = try db.makeStatement(
                    sql: "SELECT \(CommandLog.Row.columns()) FROM sluice_log WHERE seq >= ? AND seq <= ? ORDER BY seq")
                rows.bind(from, at: 1)
                rows.bind(through, at: 2)
                return try LogRowEvents.bodies(
                    of: rows, in: db, database: database, registry: registry, key: auditKey, invalidation: false)
            }
            guard !events.isEmpty else { break }
            newest = try archive.append(events: events, epoch: database.epoch)
            from = through + 1
        }
        return newest
    }
}
