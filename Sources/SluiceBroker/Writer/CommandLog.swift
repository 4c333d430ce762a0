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
        /// Canonical JSON bytes (stored as text).
        var payload: [UInt8]
        var status: String
        var result: [UInt8]
        var changes: [UInt8]
        var latencyMicros: Int64
        /// The caller's `traceparent` and `tenant`, as canonical JSON; nil when none was given.
        var context: [UInt8]? = nil
    }

    /// Adds the `context` column to a log made before it existed.
    static func addContextColumn(in db: Database) throws {
        let columns = try db.columns(in: "sluice_log").map(\.name)
        if !columns.contains("context") { try db.execute(sql: "ALTER TABLE sluice_log ADD COLUMN context TEXT") }
    }

    static let appendSQL = """
        INSERT INTO sluice_log(seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload,
            status, result, changes, latency_us, context)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Appends `entry` with `statement` (``appendSQL``, prepared by the caller).
    static func append(_ entry: Entry, using statement: Statement, in db: Database) throws {
        statement.bind(entry.seq, at: 1)
        statement.bind(entry.timestamp, at: 2)
        statement.bind(entry.actor, at: 3)
        statement.bind(entry.contract, at: 4)
        statement.bind(entry.idempotencyKey, at: 5)
        statement.bind(entry.requestID, at: 6)
        statement.bind(entry.generatedID, at: 7)
        statement.bind(entry.payload, asTextAt: 8)
        statement.bind(entry.status, at: 9)
        statement.bind(entry.result, asTextAt: 10)
        statement.bind(entry.changes, asTextAt: 11)
        statement.bind(entry.latencyMicros, at: 12)
        if let context = entry.context { statement.bind(context, asTextAt: 13) } else { statement.bindNull(at: 13) }
        try statement.runDirect(in: db)
    }
}
