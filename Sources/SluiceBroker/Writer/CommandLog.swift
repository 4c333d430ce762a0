import CSQLite
import GRDB
import SluiceWire

/// The per-database command log: every command that committed (or failed deterministically), in
/// seq order with no gaps, with the values fixed at admission so it can be replayed.
///
/// Each row is also its command's idempotency entry: it carries the payload hash and the instant
/// its key stops answering (`expires_ms`), and the index `sluice_log_key` on `(actor,
/// idempotency_key)` finds it (``IdempotencyLedger``). Writing the outcome once, here, instead of
/// again in a ledger table of its own, spares every command a table row and two index entries.
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
        var context: [UInt8]?
        /// The idempotency hash of the contract and the canonical payload
        /// (``AdmittedCommand/payloadHash``).
        var payloadHash: String
        /// When the command's key stops answering for it: admission plus the ledger's retention.
        var expiresMs: Int64
    }

    /// A log row read by column position through SQLite's C API (``Row/columns``), for replay.
    /// (`SYNC` pages and the audit archive read the columns their events need where SQLite
    /// holds them: ``LogRowEvents``.)
    struct Row {
        /// The SELECT list, in the order ``init(_:)`` reads. `hasContext` false: a log made before
        /// the `context` column existed, read as NULL.
        static func columns(hasContext: Bool = true) -> String {
            "seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload, status, result, changes, "
                + "latency_us, \(hasContext ? "context" : "NULL")"
        }

        var seq: Int64
        var timestamp, actor, contract, idempotencyKey, requestID, generatedID, status: String
        /// Canonical JSON bytes.
        var payload, result, changes: [UInt8]
        var latencyMicros: Int64
        var context: [UInt8]?

        init(_ statement: OpaquePointer) {
            seq = sqlite3_column_int64(statement, 0)
            timestamp = Statement.text(statement, 1)
            actor = Statement.text(statement, 2)
            contract = Statement.text(statement, 3)
            idempotencyKey = Statement.text(statement, 4)
            requestID = Statement.text(statement, 5)
            generatedID = Statement.text(statement, 6)
            payload = Statement.bytes(statement, 7)
            status = Statement.text(statement, 8)
            result = Statement.bytes(statement, 9)
            changes = Statement.bytes(statement, 10)
            latencyMicros = sqlite3_column_int64(statement, 11)
            context = sqlite3_column_type(statement, 12) == SQLITE_NULL ? nil : Statement.bytes(statement, 12)
        }

        var callerContext: CallerContext? { context.flatMap(Row.callerContext(_:)) }

        /// The caller's context a `context` column holds; nil when it says nothing readable.
        static func callerContext(_ column: [UInt8]) -> CallerContext? {
            (try? JSONValue(parsing: column)).flatMap(CallerContext.init(json:))
        }
    }

    /// Adds the columns a log made before them lacks, at the end, in the order a new log has them:
    /// `context` (the caller's context), then the idempotency entry's `payload_hash` and
    /// `expires_ms` (2026-12-01: before, the entries were a table of their own). Older rows keep
    /// them NULL; such a row answers for no key, and its entry is still in `sluice_ledger`, which
    /// answers for it until it expires.
    static func addMissingColumns(in db: Database) throws {
        let columns = try db.columns(in: "sluice_log").map(\.name)
        for (name, type) in [("context", "TEXT"), ("payload_hash", "TEXT"), ("expires_ms", "INTEGER")]
        where !columns.contains(name) {
            try db.execute(sql: "ALTER TABLE sluice_log ADD COLUMN \(name) \(type)")
        }
    }

    static let appendSQL = """
        INSERT INTO sluice_log(seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload,
            status, result, changes, latency_us, context, payload_hash, expires_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Appends `entry` with `statement` (``appendSQL``, prepared by the caller).
    static func append(_ entry: Entry, using statement: Statement, in db: Database, arena: BindingArena) throws {
        arena.begin()
        statement.bind(entry.seq, at: 1)
        statement.bind(entry.timestamp, at: 2, in: arena)
        statement.bind(entry.actor, at: 3, in: arena)
        statement.bind(entry.contract, at: 4, in: arena)
        statement.bind(entry.idempotencyKey, at: 5, in: arena)
        statement.bind(entry.requestID, at: 6, in: arena)
        statement.bind(entry.generatedID, at: 7, in: arena)
        statement.bind(entry.payload, asTextAt: 8, in: arena)
        statement.bind(entry.status, at: 9, in: arena)
        statement.bind(entry.result, asTextAt: 10, in: arena)
        statement.bind(entry.changes, asTextAt: 11, in: arena)
        statement.bind(entry.latencyMicros, at: 12)
        if let context = entry.context { statement.bind(context, asTextAt: 13, in: arena) } else { statement.bindNull(at: 13) }
        statement.bind(entry.payloadHash, at: 14, in: arena)
        statement.bind(entry.expiresMs, at: 15)
        try statement.runDirect(in: db)
    }
}
