import Foundation
import GRDB

/// The epoch of a stream stored in a database's `sluice_meta`: the name under which its seqs are
/// valid. A subscriber that sees a new epoch knows the history it holds may no longer match.
///
/// Under `synchronous = FULL` every acknowledged or published seq is durable, so the epoch
/// lasts as long as the file. Under `NORMAL` a power cut can lose the newest commits, after
/// which the same seqs would be handed out again for other commands; so unless the previous run
/// recorded a clean stop, the epoch is renewed at start.
enum StreamEpoch {
    /// Reads (or creates) the epoch at start, renewing it when `mode` could have lost published
    /// seqs, and clears the clean-stop mark. The caller must commit this durably (FULL) before it
    /// publishes anything, or a power cut could bring an old clean-stop mark back.
    static func begin(in db: Database, mode: SynchronousMode) throws -> String {
        let existing = try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'epoch'")
        let stoppedCleanly =
            try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'clean_stop'") != nil
        try db.execute(sql: "DELETE FROM sluice_meta WHERE key = 'clean_stop'")
        if let existing, mode == .full || stoppedCleanly { return existing }
        let fresh = UUID().uuidString.lowercased()
        try db.execute(sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES ('epoch', ?)", arguments: [fresh])
        return fresh
    }

    /// Records that everything published under the current epoch is on disk (the caller
    /// checkpoints after it), so the next start may keep the epoch.
    static func markCleanStop(in db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES ('clean_stop', '1')")
    }
}
