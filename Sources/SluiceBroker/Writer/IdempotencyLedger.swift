import CSQLite
import GRDB
import SluiceWire

/// The `(actor, idempotency_key)` → outcome entries, in the same file and transaction as the data.
///
/// A command's entry is its command-log row (``CommandLog``): the row carries the payload hash and
/// `expires_ms`, and the index `sluice_log_key` finds it by key. The table `sluice_ledger` holds
/// only the entries whose log rows a compaction removed while their keys were still in force
/// (and, in a database made before 2026-12-01, the entries written before the move), so a
/// lookup asks the log first and that table second.
///
/// The entries were a table of their own until 2026-12-01 (from that morning a rowid table with a
/// unique index, before that keyed by the pair itself, `WITHOUT ROWID`): every command wrote its
/// outcome twice, and SQLite a table row and two index entries more. In the log, SQLite's CPU per
/// command is 0.71–0.81× that (benchmarks.md, "Thirteenth round").
///
/// At most one entry is in force per key at any time, across both places: a command whose key has
/// an entry in force is answered from it and writes nothing, and a compaction moves only entries
/// in force.
enum IdempotencyLedger {
    /// The table's columns (`CREATE TABLE sluice_ledger(…)`): the entries of compacted log rows.
    static let columns = """
        actor TEXT NOT NULL, idempotency_key TEXT NOT NULL, payload_hash TEXT NOT NULL, seq INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), result TEXT NOT NULL, committed_at TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
        """

    /// Rewrites a ledger made in the `WITHOUT ROWID` layout into the rowid one, entries in seq
    /// order, inside the caller's transaction (the database's set-up); its indexes are then made by
    /// ``DatabaseFile`` like a new one's. Does nothing to a new database or one already moved.
    static func moveToRowidLayout(in db: Database) throws {
        let definition = try String.fetchOne(
            db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sluice_ledger'")
        guard let definition, definition.uppercased().contains("WITHOUT ROWID") else { return }
        try db.execute(
            sql: """
                CREATE TABLE sluice_ledger_moving(\(columns));
                INSERT INTO sluice_ledger_moving(\(columnNames)) SELECT \(columnNames) FROM sluice_ledger ORDER BY seq;
                DROP TABLE sluice_ledger;
                ALTER TABLE sluice_ledger_moving RENAME TO sluice_ledger;
                """)
    }

    struct Entry {
        var payloadHash: String
        var seq: Int64
        var status: String
        var result: JSONValue
        /// When it stops answering (nil: not read; lookups filter expired entries themselves).
        var expiresMs: Int64? = nil

        /// What a retry of this key gets: the stored result marked duplicate, or the stored error.
        func replayedResult(db: String) -> CommandOutcome.Result {
            if status == "ok" {
                return .committed(Acknowledgement(db: db, seq: seq, duplicate: true, result: result))
            }
            var error = WireError(json: result)
            error.details["seq"] = .int(seq)
            return .failed(error)
        }

        /// What a command that finds this entry for its key gets: the stored outcome when it is
        /// the same command (same contract and payload, `payloadHash`), else a mismatch.
        func answer(toPayloadHash payloadHash: String, db: String) -> CommandOutcome.Result {
            guard self.payloadHash == payloadHash else {
                return .failed(
                    WireError(
                        .idempotencyMismatch,
                        "idempotency key was already used with a different contract or payload (committed at seq \(seq))",
                        details: ["seq": .int(seq), "db": .string(db)]))
            }
            return replayedResult(db: db)
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
        try lookup(actor: actor, key: key, nowMs: nowMs, using: db.cachedStatement(sql: lookupSQL), in: db)
    }

    /// The log first (where every entry since the move is), then the compacted entries; one step.
    /// A log row made before the move has no `expires_ms` and answers for nothing.
    static let lookupSQL = """
        SELECT payload_hash, seq, status, result FROM sluice_log
        WHERE actor = ?1 AND idempotency_key = ?2 AND expires_ms > ?3
        UNION ALL
        SELECT payload_hash, seq, status, result FROM sluice_ledger
        WHERE actor = ?1 AND idempotency_key = ?2 AND expires_ms > ?3
        LIMIT 1
        """

    /// ``lookup(actor:key:nowMs:in:)`` with `statement` (``lookupSQL``, prepared by the caller).
    /// With `arena` (the writer's), the text values are bound in place (``BindingArena``).
    static func lookup(
        actor: String, key: String, nowMs: Int64, using statement: Statement, in db: Database,
        arena: BindingArena? = nil
    ) throws -> Entry? {
        if let arena {
            arena.begin()
            statement.bind(actor, at: 1, in: arena)
            statement.bind(key, at: 2, in: arena)
        } else {
            statement.bind(actor, at: 1)
            statement.bind(key, at: 2)
        }
        statement.bind(nowMs, at: 3)
        return try statement.firstRowDirect(in: db) { row in
            Entry(
                payloadHash: Statement.text(row, 0), seq: sqlite3_column_int64(row, 1), status: Statement.text(row, 2),
                result: (try? JSONValue(parsing: Statement.text(row, 3))) ?? .null
            )
        }
    }

    /// The columns' names, in ``columns``' order.
    static let columnNames = "actor, idempotency_key, payload_hash, seq, status, result, committed_at, expires_ms"

    /// Copies the entries of the log rows up to `seq` whose keys are still in force at `nowMs` into
    /// `sluice_ledger`, before a compaction deletes those rows (in the same transaction, or in a
    /// snapshot's copy before its log goes). Returns how many.
    @discardableResult
    static func keepEntries(ofLogRowsThrough seq: Int64, nowMs: Int64, in db: Database) throws -> Int {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO sluice_ledger(\(columnNames))
                SELECT actor, idempotency_key, payload_hash, seq, status, result, ts, expires_ms FROM sluice_log
                WHERE seq <= ? AND expires_ms > ?
                """,
            arguments: [seq, nowMs])
        return db.changesCount
    }

    /// Deletes up to `limit` entries of `sluice_ledger` expired at `nowMs`; returns how many.
    /// Garbage collection only: expired entries are already ignored by
    /// ``lookup(actor:key:nowMs:in:)``. (Expired log rows stay until a compaction removes them, as
    /// every log row does.)
    static func sweep(nowMs: Int64, limit: Int, in db: Database) throws -> Int {
        try sweep(nowMs: nowMs, limit: limit, using: db.cachedStatement(sql: sweepSQL), in: db)
    }

    /// When the earliest entry of `sluice_ledger` expires (through its `expires_ms` index); nil
    /// when it has none.
    static func earliestExpiry(in db: Database) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT min(expires_ms) FROM sluice_ledger"))
    }

    static let sweepSQL = """
        DELETE FROM sluice_ledger WHERE rowid IN (
            SELECT rowid FROM sluice_ledger WHERE expires_ms <= ? LIMIT ?)
        """

    /// ``sweep(nowMs:limit:in:)`` with `statement` (``sweepSQL``, prepared by the caller).
    static func sweep(nowMs: Int64, limit: Int, using statement: Statement, in db: Database) throws -> Int {
        statement.bind(nowMs, at: 1)
        statement.bind(Int64(limit), at: 2)
        try statement.runDirect(in: db)
        return db.changesCount
    }
}
