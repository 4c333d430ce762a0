import CSQLite
import GRDB
import SluiceWire

/// The `(actor, idempotency_key)` → outcome table, in the same file and transaction as the data.
///
/// Its rows are stored in the order they are written (a rowid table) and found through a unique
/// index on `(actor, idempotency_key)`. Keyed by the pair itself (`WITHOUT ROWID`, as it was
/// until 2026-12-01), every command's whole row went to a random place in the table when keys
/// are random — and the clients' default key is a random UUID — so each batch dirtied about one
/// page per command and the table's pages split as it grew: 2–2.7× the SQLite CPU per command
/// of this layout over 100,000 commands with random keys (benchmarks.md, "Tenth round"). Now only
/// the index entry, a few dozen bytes, goes to a random place.
enum IdempotencyLedger {
    /// The table's columns (`CREATE TABLE sluice_ledger(…)`).
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

    static let lookupSQL = """
        SELECT payload_hash, seq, status, result FROM sluice_ledger
        WHERE actor = ? AND idempotency_key = ? AND expires_ms > ?
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

    static let recordSQL = """
        INSERT OR REPLACE INTO sluice_ledger(\(columnNames))
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Stores a command's outcome with `statement` (``recordSQL``, prepared by the caller).
    static func record(
        actor: String, key: String, payloadHash: String, seq: Int64, status: String, result: [UInt8],
        committedAt: String, expiresMs: Int64, using statement: Statement, in db: Database, arena: BindingArena
    ) throws {
        arena.begin()
        statement.bind(actor, at: 1, in: arena)
        statement.bind(key, at: 2, in: arena)
        statement.bind(payloadHash, at: 3, in: arena)
        statement.bind(seq, at: 4)
        statement.bind(status, at: 5, in: arena)
        statement.bind(result, asTextAt: 6, in: arena)
        statement.bind(committedAt, at: 7, in: arena)
        statement.bind(expiresMs, at: 8)
        try statement.runDirect(in: db)
    }

    /// Deletes up to `limit` entries expired at `nowMs`; returns how many. Garbage collection
    /// only: expired entries are already ignored by ``lookup(actor:key:nowMs:in:)``.
    static func sweep(nowMs: Int64, limit: Int, in db: Database) throws -> Int {
        try sweep(nowMs: nowMs, limit: limit, using: db.cachedStatement(sql: sweepSQL), in: db)
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
