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

    static func lookup(actor: String, key: String, in db: Database) throws -> Entry? {
        let statement = try db.cachedStatement(
            sql: "SELECT payload_hash, seq, status, result FROM sluice_ledger WHERE actor = ? AND idempotency_key = ?"
        )
        guard let row = try Row.fetchOne(statement, arguments: [actor, key]) else { return nil }
        let text: String = row[3]
        return Entry(
            payloadHash: row[0], seq: row[1], status: row[2],
            result: (try? JSONValue(parsing: text)) ?? .null
        )
    }

    static func record(
        actor: String, key: String, payloadHash: String, seq: Int64, status: String, result: JSONValue,
        committedAt: String,
        in db: Database
    ) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO sluice_ledger(actor, idempotency_key, payload_hash, seq, status, result, committed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        )
        try statement.execute(arguments: [actor, key, payloadHash, seq, status, result.canonicalString, committedAt])
    }
}
