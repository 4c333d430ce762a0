import GRDB
import SluiceWire

/// The `(actor, idempotency_key)` → outcome table, in the same file and transaction as the data.
enum IdempotencyLedger {
    struct Entry {
        var payloadHash: String
        var seq: Int64
        var status: String
        var result: JSONValue

        /// What a retry of this key gets: the stored result marked duplicate, or the stored error.
        func replayedResult(db: String) -> CommandOutcome.Result {
            if status == "ok" {
                return .committed(Acknowledgement(db: db, seq: seq, duplicate: true, result: result))
            }
            var error = WireError(json: result)
            error.details["seq"] = .int(seq)
            return .failed(error)
        }

        func status(db: String) -> CommandStatus {
            switch replayedResult(db: db) {
            case .committed(let ack): .committed(ack)
            case .failed(let error): .failed(db: db, seq: seq, error: error)
            }
        }
    }

    /// The entry for `(actor, key)` that is still in force at `nowMs` (an expired entry answers
    /// for nothing, whether or not the sweep has removed it yet).
    static func lookup(actor: String, key: String, nowMs: Int64, in db: Database) throws -> Entry? {
        let statement = try db.cachedStatement(
            sql: """
                SELECT payload_hash, seq, status, result FROM sluice_ledger
                WHERE actor = ? AND idempotency_key = ? AND expires_ms > ?
                """
        )
        guard let row = try Row.fetchOne(statement, arguments: [actor, key, nowMs]) else { return nil }
        let text: String = row[3]
        return Entry(
            payloadHash: row[0], seq: row[1], status: row[2],
            result: (try? JSONValue(parsing: text)) ?? .null
        )
    }

    static func record(
        actor: String, key: String, payloadHash: String, seq: Int64, status: String, result: JSONValue,
        committedAt: String, expiresMs: Int64, in db: Database
    ) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO sluice_ledger(
                    actor, idempotency_key, payload_hash, seq, status, result, committed_at, expires_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        try statement.execute(arguments: [
            actor, key, payloadHash, seq, status, result.canonicalString, committedAt, expiresMs,
        ])
    }

    /// Deletes up to `limit` entries expired at `nowMs`; returns how many. Garbage collection
    /// only: expired entries are already ignored by ``lookup(actor:key:nowMs:in:)``.
    static func sweep(nowMs: Int64, limit: Int, in db: Database) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM sluice_ledger WHERE (actor, idempotency_key) IN (
                    SELECT actor, idempotency_key FROM sluice_ledger WHERE expires_ms <= ? LIMIT ?)
                """,
            arguments: [nowMs, limit]
        )
        return db.changesCount
    }
}
