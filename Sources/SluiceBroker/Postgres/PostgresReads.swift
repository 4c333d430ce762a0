import Foundation
import Logging
import PostgresNIO
import SluiceWire

/// The read sessions of one broker read thread (a query reader, the store reader) to the
/// `exclusive-postgres` databases: one per database, as the plugin's role, connected on first
/// use and again after a failure (not before ``PostgresWriter/retryAfterMs``). The writer
/// provisions; a reader only connects with the password it made, so until the writer has
/// reached the server once, reads are `unavailable` too.
///
/// Every read runs in a `REPEATABLE READ READ ONLY` transaction: its rows and the log's last seq
/// come from one snapshot, as a SQLite read's do from one WAL snapshot.
final class PostgresReads {
    let server: PostgresServer
    let dataDirectory: URL
    let databases: Set<String>
    let logger: Logger
    private var sessions: [String: PostgresSession] = [:]
    private var retryAt: [String: UInt64] = [:]

    init?(server: PostgresServer?, dataDirectory: URL, databases: Set<String>, logger: Logger) {
        guard let server, !databases.isEmpty else { return nil }
        self.server = server
        self.dataDirectory = dataDirectory
        self.databases = databases
        self.logger = logger
    }

    func serves(_ database: String) -> Bool { databases.contains(database) }

    /// Runs `body` in a read-only snapshot of `database`, with statements ended at `timeoutMs`.
    /// A connection failure drops the session and is answered `unavailable`.
    func read<T>(_ database: String, timeoutMs: Int, _ body: (PostgresSession, String) throws -> T) throws -> T {
        let session = try connected(database)
        let books = PostgresSession.quoted(PostgresProvisioning.bookkeepingSchema(database))
        do {
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                try session.execute("SET LOCAL statement_timeout TO \(max(1, timeoutMs))")
                let value = try body(session, books)
                try session.execute("COMMIT")
                return value
            } catch {
                if !error.isPostgresConnectionFailure { session.rollback() }
                throw error
            }
        } catch where error.isPostgresConnectionFailure {
            session.close()
            sessions[database] = nil
            retryAt[database] = Clock.monotonicNanoseconds() + UInt64(PostgresWriter.retryAfterMs) * 1_000_000
            throw Self.unavailable(database, error.postgresMessage)
        }
    }

    private func connected(_ database: String) throws -> PostgresSession {
        if let session = sessions[database], session.isOpen { return session }
        sessions[database] = nil
        if let retry = retryAt[database], Clock.monotonicNanoseconds() < retry {
            throw Self.unavailable(database, "a connection failed less than \(PostgresWriter.retryAfterMs) ms ago")
        }
        let file = PostgresProvisioning.passwordFile(database, dataDirectory: dataDirectory)
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw Self.unavailable(database, "its role is not provisioned yet")
        }
        do {
            let session = try PostgresSession(
                server: server, username: PostgresProvisioning.role(database),
                password: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                searchPath: [PostgresProvisioning.dataSchema(database)], statementTimeoutMs: PostgresWriter.statementTimeoutMs,
                logger: logger)
            sessions[database] = session
            return session
        } catch {
            retryAt[database] = Clock.monotonicNanoseconds() + UInt64(PostgresWriter.retryAfterMs) * 1_000_000
            throw Self.unavailable(database, error.postgresMessage)
        }
    }

    static func unavailable(_ database: String, _ reason: String) -> WireError {
        WireError(
            .unavailable, "\(database) is on PostgreSQL, which cannot be reached (\(reason)); retry",
            retryable: true, retryAfterMs: PostgresWriter.retryAfterMs, details: ["db": .string(database)])
    }

    /// The log's last seq in the reading snapshot.
    static func lastSeq(_ session: PostgresSession, books: String) throws -> Int64 {
        try session.value(Int64.self, "SELECT coalesce(max(seq), 0)::bigint FROM \(books).log") ?? 0
    }

    /// The stream's epoch (``PostgresProvisioning`` made it once; it never changes: PostgreSQL
    /// loses no committed seq, so a restart never reuses one).
    static func epoch(_ session: PostgresSession, books: String) throws -> String {
        try session.value(String.self, "SELECT value FROM \(books).meta WHERE key = 'epoch'") ?? ""
    }

    func closeAll() {
        for session in sessions.values { session.close() }
        sessions.removeAll()
    }
}

extension QueryReader {
    /// A named query of an `exclusive-postgres` plugin: its statement through a cursor (so the
    /// rows past `limit` are never fetched), the log's seq from the same snapshot.
    func executeOnPostgres(_ job: Job, _ reads: PostgresReads) -> Result<Snapshot, WireError> {
        let database = job.contract.database
        let remainingMs = Int((job.deadline &- Clock.monotonicNanoseconds()) / 1_000_000)
        do {
            return .success(
                try reads.read(database, timeoutMs: remainingMs) { session, books in
                    let seq = try PostgresReads.lastSeq(session, books: books)
                    let (sql, names) = SQLParameters.postgres(job.contract.statements[0].sql)
                    let input = job.parameters.objectMembers ?? JSONObject()
                    var bindings = PostgresBindings(capacity: names.count)
                    for name in names {
                        switch name {
                        case "_now": bindings.append(Clock.timestamp())
                        case "_actor": bindings.append(job.actor)
                        default: PostgresContract.append(input[name], to: &bindings)
                        }
                    }
                    try session.execute("DECLARE sluice_query NO SCROLL CURSOR FOR \(sql)", bindings)
                    let result = try session.execute("FETCH FORWARD \(job.limit + 1) FROM sluice_query")
                    var columns: [String] = []
                    var bytes: [UInt8] = [UInt8(ascii: "[")]
                    var count = 0
                    var truncated = false
                    for row in result.rows {
                        if columns.isEmpty { columns = row.map(\.columnName) }
                        guard count < job.limit else {
                            truncated = true
                            break
                        }
                        var encoded: [UInt8] = []
                        JSONValue.array(row.map(PostgresContract.value(of:))).append(to: &encoded)
                        guard bytes.count + encoded.count < job.contract.maxBytes else {
                            truncated = true
                            break
                        }
                        if count > 0 { bytes.append(UInt8(ascii: ",")) }
                        bytes += encoded
                        count += 1
                    }
                    bytes.append(UInt8(ascii: "]"))
                    var body = CanonicalObjectWriter(capacity: bytes.count + 128)
                    body.value("columns", .array(columns.map(JSONValue.string)))
                    body.string("db", database)
                    body.raw("rows", bytes)
                    body.int("seq", seq)
                    body.bool("truncated", truncated)
                    return Snapshot(body: body.finish(), seq: seq, projectionSeqs: [:])
                })
        } catch let error as WireError {
            return .failure(error)
        } catch where error.postgresSQLState == "57014" {
            return .failure(WireError(.deadlineExceeded, "the query ran past its deadline and was stopped"))
        } catch {
            logger.error("query failed", metadata: ["contract": "\(job.contract.id)", "error": "\(error.postgresMessage)"])
            return .failure(WireError(.internal, "the query failed: \(error.postgresMessage)", retryable: false))
        }
    }
}

extension StoreReader {
    /// The ledger entry of (actor, key) in an `exclusive-postgres` database.
    func postgresLedgerEntry(_ database: String, actor: String, key: String, _ reads: PostgresReads) throws
        -> IdempotencyLedger.Entry?
    {
        try reads.read(database, timeoutMs: 5000) { session, books in
            var lookup = binds(actor, key)
            lookup.append(Clock.now().milliseconds)
            guard
                let row = try session.execute(
                    "SELECT payload_hash, seq, status, result FROM \(books).ledger WHERE actor = $1 AND idempotency_key = $2 AND expires_ms > $3",
                    lookup
                ).first
            else { return nil }
            let (hash, seq, status, result) = try row.decode((String, Int64, String, String).self)
            return IdempotencyLedger.Entry(
                payloadHash: hash, seq: seq, status: status, result: (try? JSONValue(parsing: Array(result.utf8))) ?? .null)
        }
    }

    /// A `SYNC` page of an `exclusive-postgres` database's log, as ``commandEvents`` reads a
    /// SQLite one (its log is never compacted by the broker: every seq from 1 is there).
    func postgresCommandEvents(_ page: SyncPage, _ reads: PostgresReads) throws -> (
        String, Int64, [(seq: Int64, body: [UInt8])]
    ) {
        let (database, request) = (page.stream, page.request)
        return try reads.read(database, timeoutMs: 30_000) { session, books in
            let head = try PostgresReads.lastSeq(session, books: books)
            let epoch = try PostgresReads.epoch(session, books: books)
            var page = PostgresBindings()
            page.append(request.fromSeq)
            page.append(Int64(request.limit))
            let invalidation = request.topic == Topic.invalidation(database)
            let envelope = ReplayEnvelope(epoch: epoch, stream: database, topic: request.topic)
            var bodies: [(seq: Int64, body: [UInt8])] = []
            var bytes = 0
            for row in try session.execute(
                "SELECT \(CommandLog.Row.columns()) FROM \(books).log WHERE seq >= $1 ORDER BY seq LIMIT $2", page)
            {
                let logRow = try CommandLog.Row(postgres: row)
                let policy = registry.auditPolicy(
                    for: ContractID(logRow.contract).flatMap { registry[$0] }, actor: logRow.actor)
                let logged = try CommandEvents(
                    logRow: logRow, database: database, epoch: epoch, policy: policy, key: auditKey,
                    invalidation: invalidation)
                let (body, eventBytes) = envelope.body(seq: logged.seq) { start in
                    logged.body(
                        invalidation: invalidation, after: start,
                        reserving: ReplayEnvelope.seqBytes + envelope.suffixCount)
                }
                bodies.append((logged.seq, body))
                // The page ends at its byte budget (one event at least): no body built past it.
                bytes += eventBytes
                if bytes >= maxPageBytes { break }
            }
            return (epoch, head, bodies)
        }
    }
}

extension CommandLog.Row {
    /// A row of an `exclusive-postgres` log (`sluice_<id>.log`), columns as ``columns(hasContext:)``.
    init(postgres row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func text(_ index: Int) throws -> String { try cells[index].decode(String.self) }
        seq = try cells[0].decode(Int64.self)
        timestamp = try text(1)
        actor = try text(2)
        contract = try text(3)
        idempotencyKey = try text(4)
        requestID = try text(5)
        generatedID = try text(6)
        payload = Array(try text(7).utf8)
        status = try text(8)
        result = Array(try text(9).utf8)
        changes = Array(try text(10).utf8)
        latencyMicros = try cells[11].decode(Int64.self)
        context = cells[12].bytes == nil ? nil : Array(try text(12).utf8)
    }
}
