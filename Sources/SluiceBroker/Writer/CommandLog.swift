import GRDB
import SluiceWire

/// The per-database command log: every command that committed (or failed deterministically), in
/// seq order with no gaps, with the values fixed at admission so it can be replayed.
enum CommandLog {
    struct Entry {
        var seq: Int64
        var timestamp: String
        var actor: String
        var contract: String
        var idempotencyKey: String
        var requestID: String
        var generatedID: String
        var payload: String
        var status: String
        var result: String
        var changes: String
        var latencyMicros: Int64
    }

    static func append(_ entry: Entry, in db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO sluice_log(seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload,
                    status, result, changes, latency_us)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        try statement.execute(arguments: [
            entry.seq, entry.timestamp, entry.actor, entry.contract, entry.idempotencyKey, entry.requestID,
            entry.generatedID, entry.payload, entry.status, entry.result, entry.changes, entry.latencyMicros,
        ])
    }
}
