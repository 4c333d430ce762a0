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
            try copy.writeWithoutTransaction { db in
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
            let deleted = try database.pool.write { db in
                try db.execute(sql: "DELETE FROM sluice_log WHERE seq <= ?", arguments: [cutoff])
                let deleted = db.changesCount
                for (key, value) in [("snapshot_seq", head), ("log_first_seq", cutoff + 1)] {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES (?, ?)",
                        arguments: [key, String(value)]
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
}
