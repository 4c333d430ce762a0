import Foundation
import Logging
import PostgresNIO
import SluiceWire
import SluiceZMQ

/// The single writer of one `exclusive-postgres` database, on its own thread: a
/// ``CommandWriter`` whose database is a plugin's schemas on the broker's PostgreSQL server.
///
/// It keeps the same promises with the same messages: it drains its inbox into batches, runs each
/// batch in one PostgreSQL transaction — the idempotency ledger, the contract's statements and
/// the log row of every command, so an ACK means durable (`synchronous_commit = on`) and
/// exactly-once — and sends the outcomes and events (seqs gap-free, from its log) back to the I/O
/// thread only after COMMIT returns.
///
/// A server that is down or unreachable makes only this database's commands fail: they are
/// answered `unavailable` with `retry_after_ms`, nothing that did not commit is acknowledged, and
/// the next batch after the wait reconnects (and provisions again) by itself. The I/O thread
/// never waits for PostgreSQL: only this thread does.
final class PostgresWriter: BrokerWorker {
    /// Sessions the broker needs at least as a plugin's role: this writer's and one reader's. It
    /// opens up to 2 + the query reader threads (a store reader's, each query reader's); beyond
    /// `limits.connections` (default ``defaultConnections``) reads are answered `unavailable`.
    static let connectionsUsed = 2
    static let defaultConnections = 8
    /// How long commands are refused after a failed connection before the next attempt.
    static let retryAfterMs = 1000
    /// A statement taking longer than this ends (and the batch fails `internal`, retryable).
    static let statementTimeoutMs = 30_000

    let database: String
    let server: PostgresServer
    let provisioning: PostgresProvisioning
    let maxBatchSize: Int
    let ledgerRetentionMs: Int64
    let maxBytes: Int64?
    let auditKey: [UInt8]
    let registry: ContractRegistry
    let logger: Logger

    private var session: PostgresSession?
    /// Monotonic nanoseconds before which no connection is attempted again.
    private var retryAt: UInt64 = 0
    private var nextSeq: Int64 = 1
    private var epoch = ""
    private var eventFraming = EventFraming(database: "", epoch: "")
    private var contracts: [ContractID: PostgresContract] = [:]
    /// Why the last connection failed, for the answers until the next attempt.
    private var lastFailure = ""
    /// Set when a connection read the stream's position, until the I/O thread is told it.
    private var positionToAnnounce = false

    init(
        database: String, server: PostgresServer, dataDirectory: URL, registry: ContractRegistry, maxBatchSize: Int,
        ledgerRetentionMs: Int64, auditKey: [UInt8], logger: Logger
    ) {
        self.database = database
        self.server = server
        self.registry = registry
        self.maxBatchSize = maxBatchSize
        self.ledgerRetentionMs = ledgerRetentionMs
        self.maxBytes = registry.storageLimit(of: database)
        self.auditKey = auditKey
        self.logger = logger
        provisioning = PostgresProvisioning(
            plugin: database, server: server, dataDirectory: dataDirectory,
            connectionLimit: registry.plugins[database]?.limits.connections ?? Self.defaultConnections,
            migrations: registry.migrations[database] ?? [], logger: logger)
    }

    var workerName: String { database }

    private var books: String { PostgresSession.quoted(provisioning.bookkeepingSchema) }

    func serve(inbox: ZMQSocket, notices: ZMQSocket) throws(ZMQError) {
        // Connect (and provision) before the first command, so the log says at once when the
        // server is unreachable; the broker serves the other databases meanwhile.
        _ = try? connected()
        try announcePosition(notices)
        var stopping = false
        var queue: [AdmittedCommand] = []
        var compactions: [UInt64] = []
        func take(_ message: WriterMessage) {
            switch message {
            case .commands(let commands, _): queue += commands
            case .drainAndStop: stopping = true
            case .compact(let token, _): compactions.append(token)
            case .refreshProjections, .release: break  // no projections fill PostgreSQL
            }
        }
        try inbox.setReceiveTimeout(-1)
        while !stopping || !queue.isEmpty {
            if queue.isEmpty {
                guard let first = try inbox.receiveObject(WriterMessage.self) else { continue }
                take(first)
            }
            while queue.count < maxBatchSize, !stopping, let next = try inbox.receiveObject(WriterMessage.self, dontWait: true) {
                take(next)
            }
            for token in compactions {
                try notices.sendObject(
                    BrokerNotice.compacted(
                        token: token,
                        .failure(
                            WireError(
                                .invalidMessage,
                                "\(database) is an exclusive-postgres database: its log stays in PostgreSQL (sluice_\(database).log) and is not compacted by the broker"))))
            }
            compactions.removeAll()
            if !queue.isEmpty {
                let batch = Array(queue.prefix(maxBatchSize))
                queue.removeFirst(batch.count)
                let outcomes = runBatch(batch)
                try announcePosition(notices)
                try notices.sendObject(BrokerNotice.outcomes(outcomes, database: database, commands: batch))
            }
        }
        session?.close()
    }

    // MARK: The connection

    /// The writer's session, connected and provisioned; throws while the server cannot be
    /// reached (at once during ``retryAfterMs`` after a failed attempt).
    private func connected() throws -> PostgresSession {
        if let session, session.isOpen { return session }
        session = nil
        guard Clock.monotonicNanoseconds() >= retryAt else { throw Unavailable(reason: lastFailure) }
        do {
            let password = try provisioning.password()
            let admin = try PostgresSession(
                server: server, username: server.username, password: server.password, searchPath: [],
                statementTimeoutMs: Self.statementTimeoutMs, logger: logger)
            defer { admin.close() }
            try provisioning.provision(as: admin, password: password)
            let session = try PostgresSession(
                server: server, username: provisioning.role, password: password, searchPath: [provisioning.dataSchema],
                statementTimeoutMs: Self.statementTimeoutMs, logger: logger)
            do {
                try provisioning.migrate(session)
                nextSeq = (try session.value(Int64.self, "SELECT max(seq) FROM \(books).log") ?? 0) + 1
                epoch = try session.value(String.self, "SELECT value FROM \(books).meta WHERE key = 'epoch'") ?? ""
            } catch {
                session.close()
                throw error
            }
            eventFraming = EventFraming(database: database, epoch: epoch)
            positionToAnnounce = true
            self.session = session
            lastFailure = ""
            logger.info(
                "connected to PostgreSQL", metadata: ["db": "\(database)", "server": "\(server)", "next_seq": "\(nextSeq)"])
            return session
        } catch {
            retryAt = Clock.monotonicNanoseconds() + UInt64(Self.retryAfterMs) * 1_000_000
            lastFailure = error is PSQLError ? error.postgresMessage : "\(error)"
            logger.error(
                "PostgreSQL unavailable", metadata: ["db": "\(database)", "server": "\(server)", "error": "\(lastFailure)"])
            throw Unavailable(reason: lastFailure)
        }
    }

    private struct Unavailable: Error { var reason: String }

    /// Tells the I/O thread the stream's position after a (re)connection read it: heartbeats
    /// announce it from then on, and the query cache compares against it.
    private func announcePosition(_ notices: ZMQSocket) throws(ZMQError) {
        guard positionToAnnounce else { return }
        positionToAnnounce = false
        try notices.sendObject(BrokerNotice.position(database: database, seq: nextSeq - 1, epoch: epoch))
    }

    private func drop() {
        session?.close()
        session = nil
    }

    // MARK: Batches

    /// A statement failed on the fast path (no savepoints): the batch is undone and run again
    /// with a savepoint around each command.
    private struct FastPathFailed: Error {}

    /// The ledger and log rows of a batch, written by one statement before COMMIT.
    private struct Bookkeeping {
        var actors: [String] = [], keys: [String] = [], hashes: [String] = [], seqs: [Int64] = []
        var statuses: [String] = [], results: [String] = [], timestamps: [String] = [], expiries: [Int64] = []
        var contracts: [String] = [], requestIDs: [String] = [], generatedIDs: [String] = [], payloads: [String] = []
        var changes: [String] = [], latencies: [Int64] = [], contexts: [String] = []
    }

    /// Runs one batch in one transaction. Never throws: every command gets an outcome, and a
    /// batch that does not commit acknowledges nothing.
    ///
    /// The server answers one statement at a time, and this thread waking for each answer is
    /// what a statement costs most here: the ledger is read for the whole batch in one query,
    /// its new entries and log rows go in one statement, and the batch's statements are sent
    /// without waiting for each answer (``fastTransaction(_:in:)``). When a statement is refused
    /// (a constraint, say) the batch is undone and run again one statement at a time with a
    /// savepoint per command (``carefulTransaction(_:in:)``), so the refused one alone is undone.
    func runBatch(_ batch: [AdmittedCommand]) -> [CommandOutcome] {
        let session: PostgresSession
        do {
            session = try connected()
        } catch {
            return failAll(batch, unavailable("\((error as? Unavailable)?.reason ?? "\(error)")"))
        }
        let firstSeq = nextSeq
        var pending: [BatchEntry] = []
        do {
            if let maxBytes, try usedBytes(session) >= maxBytes {
                return failAll(
                    batch,
                    WireError(
                        .storageLimit,
                        "\(database) reached its storage limit (limits.storage_mb); nothing in this batch was written, and the same command with the same key runs once there is room"))
            }
            do {
                pending = try fastTransaction(batch, in: session)
            } catch is FastPathFailed {
                nextSeq = firstSeq
                pending = try carefulTransaction(batch, in: session)
            }
        } catch {
            nextSeq = firstSeq
            logger.error(
                "batch rolled back", metadata: ["db": "\(database)", "size": "\(batch.count)", "error": "\(error.postgresMessage)"])
            guard !error.isPostgresConnectionFailure else {
                // Whether a COMMIT that lost its connection took effect is unknown: the next
                // connection reads the log's last seq again, and a retry with the same key gets
                // the committed outcome from the ledger if it did.
                drop()
                retryAt = Clock.monotonicNanoseconds() + UInt64(Self.retryAfterMs) * 1_000_000
                lastFailure = error.postgresMessage
                return failAll(batch, unavailable(error.postgresMessage))
            }
            return failAll(
                batch, WireError(.internal, "the transaction could not commit; nothing was written, retry with the same key"))
        }
        return pending.map { entry in
            var outcome = CommandOutcome(
                entry, epoch: epoch,
                events: entry.events(
                    database: database, epoch: epoch, framing: eventFraming, registry: registry, auditKey: auditKey))
            if let logged = entry.logged, entry.result.isCommitted {
                // The tables are read off the statements' text; triggers and functions may write
                // others: every cached query of this database goes.
                outcome.changedTables = logged.changes.tableNames
                outcome.changedUnnamedRows = true
            }
            return outcome
        }
    }

    /// The batch without savepoints, its statements pipelined: BEGIN and the ledger lookup are
    /// sent together, then every command's statements, then the ledger and log rows, the sweep
    /// and COMMIT — three waits for the whole batch instead of one per statement. Any statement
    /// refused: ``FastPathFailed`` (after ROLLBACK), and the batch runs again carefully.
    private func fastTransaction(_ batch: [AdmittedCommand], in session: PostgresSession) throws -> [BatchEntry] {
        let begin = session.send("BEGIN")
        let lookup = session.send(Self.ledgerLookupSQL(books), ledgerLookupBinds(batch))
        do {
            _ = try begin.wait()
            var known = try ledgerEntries(try lookup.wait())
            // What each command does: answered without running, or its statements' answers.
            var plans: [(command: AdmittedCommand, answered: CommandOutcome.Result?, payload: [UInt8], hash: String,
                answers: [EventLoopFuture<PostgresQueryResult>])] = []
            var keysInBatch: Set<String> = []
            for command in batch {
                if let expired = command.deadlineError() {
                    plans.append((command, .failed(expired), [], "", []))
                    continue
                }
                let payloadBytes = command.canonicalPayload
                let payloadHash = command.payloadHash
                let ledgerKey = Self.ledgerKey(command.actor, command.request.idempotencyKey)
                if let entry = known[ledgerKey], (entry.expiresMs ?? .max) > command.admittedMs {
                    plans.append((command, entry.answer(toPayloadHash: payloadHash, db: database), [], "", []))
                    continue
                }
                // A key twice in one batch: the second must see the first's outcome.
                guard keysInBatch.insert(ledgerKey).inserted else { throw FastPathFailed() }
                plans.append((command, nil, payloadBytes, payloadHash, prepared(command.contract).send(command, on: session)))
            }
            // Every answer is waited for, so none is left in flight behind a failure.
            var values: [JSONValue?] = []
            var refused = false
            for plan in plans {
                do {
                    values.append(PostgresContract.result(of: try plan.answers.map { try $0.wait() }))
                } catch where !error.isPostgresConnectionFailure {
                    refused = true
                    values.append(nil)
                }
            }
            if refused { throw FastPathFailed() }
            var bookkeeping = Bookkeeping()
            var pending: [BatchEntry] = []
            pending.reserveCapacity(batch.count)
            for (plan, value) in zip(plans, values) {
                if let answered = plan.answered {
                    pending.append(BatchEntry(command: plan.command, result: answered, logged: nil))
                    continue
                }
                let result = CommandOutcome.Result.committed(
                    Acknowledgement(db: database, seq: nextSeq, duplicate: false, result: value ?? .null))
                pending.append(
                    record(
                        plan.command, result: result, status: "ok", payload: plan.payload, payloadHash: plan.hash,
                        known: &known, into: &bookkeeping))
            }
            let write = bookkeeping.seqs.isEmpty ? nil : send(bookkeeping, on: session)
            let sweep = session.send(Self.sweepSQL(books), sweepBinds(batch))
            let durable = session.send(Self.durableCommitSQL)
            let commit = session.send("COMMIT")
            _ = try write?.wait()
            _ = try sweep.wait()
            _ = try durable.wait()
            try session.committed(commit)
            return pending
        } catch {
            if !error.isPostgresConnectionFailure { session.rollback() }
            throw error
        }
    }

    /// The batch one statement at a time with a savepoint around each command, after the fast
    /// path met a refusal: the refused command alone is undone (and, for a constraint, stored
    /// and logged).
    private func carefulTransaction(_ batch: [AdmittedCommand], in session: PostgresSession) throws -> [BatchEntry] {
        try session.execute("BEGIN")
        do {
            var known = try ledgerEntries(session.execute(Self.ledgerLookupSQL(books), ledgerLookupBinds(batch)))
            var bookkeeping = Bookkeeping()
            var pending: [BatchEntry] = []
            pending.reserveCapacity(batch.count)
            for command in batch {
                pending.append(try runCarefully(command, known: &known, into: &bookkeeping, in: session))
            }
            if !bookkeeping.seqs.isEmpty { _ = try send(bookkeeping, on: session).wait() }
            try session.execute(Self.sweepSQL(books), sweepBinds(batch))
            try session.execute(Self.durableCommitSQL)
            try session.committed(session.send("COMMIT"))
            return pending
        } catch {
            if !error.isPostgresConnectionFailure { session.rollback() }
            throw error
        }
    }

    /// The last word before COMMIT is the broker's: whatever a contract's statement did to the
    /// setting (`set_config` is a function a SELECT may call), this transaction's commit waits
    /// for the server's WAL flush.
    private static let durableCommitSQL = "SET LOCAL synchronous_commit TO on"

    private static func ledgerLookupSQL(_ books: String) -> String {
        """
        SELECT actor, idempotency_key, payload_hash, seq, status, result, expires_ms FROM \(books).ledger
        WHERE (actor, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND expires_ms > $3
        """
    }

    private func ledgerLookupBinds(_ batch: [AdmittedCommand]) -> PostgresBindings {
        var lookup = PostgresBindings(capacity: 3)
        lookup.append(batch.map(\.actor))
        lookup.append(batch.map(\.request.idempotencyKey))
        lookup.append(batch.map(\.admittedMs).min() ?? 0)
        return lookup
    }

    /// Expired entries go as the batch adds new ones, so the ledger stays within its retention
    /// under sustained load: twice as many as the batch may add, at most.
    private static func sweepSQL(_ books: String) -> String {
        "DELETE FROM \(books).ledger WHERE ctid = ANY(ARRAY(SELECT ctid FROM \(books).ledger WHERE expires_ms <= $1 LIMIT $2))"
    }

    private func sweepBinds(_ batch: [AdmittedCommand]) -> PostgresBindings {
        var sweep = PostgresBindings(capacity: 2)
        sweep.append(Clock.now().milliseconds)
        sweep.append(Int64(2 * batch.count))
        return sweep
    }

    /// The ledger entries in force for the batch's (actor, key) pairs, by ``ledgerKey(_:_:)``
    /// (each judged against its command's own admission time when used).
    private func ledgerEntries(_ rows: PostgresQueryResult) throws -> [String: IdempotencyLedger.Entry] {
        var entries: [String: IdempotencyLedger.Entry] = [:]
        for row in rows {
            let (actor, key, hash, seq, status, result, expires) = try row.decode(
                (String, String, String, Int64, String, String, Int64).self)
            entries[Self.ledgerKey(actor, key)] = IdempotencyLedger.Entry(
                payloadHash: hash, seq: seq, status: status, result: (try? JSONValue(parsing: Array(result.utf8))) ?? .null,
                expiresMs: expires)
        }
        return entries
    }

    private static func ledgerKey(_ actor: String, _ key: String) -> String { actor + "\u{0}" + key }

    private func runCarefully(
        _ command: AdmittedCommand, known: inout [String: IdempotencyLedger.Entry], into bookkeeping: inout Bookkeeping,
        in session: PostgresSession
    ) throws -> BatchEntry {
        if let expired = command.deadlineError() {
            return BatchEntry(command: command, result: .failed(expired), logged: nil)
        }
        let payloadBytes = command.canonicalPayload
        let payloadHash = command.payloadHash
        if let entry = known[Self.ledgerKey(command.actor, command.request.idempotencyKey)],
            (entry.expiresMs ?? .max) > command.admittedMs
        {
            return BatchEntry(command: command, result: entry.answer(toPayloadHash: payloadHash, db: database), logged: nil)
        }
        let result: CommandOutcome.Result
        let status: String
        try session.execute("SAVEPOINT sluice_command")
        do {
            let value = try prepared(command.contract).run(command, in: session)
            try session.execute("RELEASE SAVEPOINT sluice_command")
            result = .committed(Acknowledgement(db: database, seq: nextSeq, duplicate: false, result: value))
            status = "ok"
        } catch where !error.isPostgresConnectionFailure {
            try session.execute("ROLLBACK TO SAVEPOINT sluice_command")
            try session.execute("RELEASE SAVEPOINT sluice_command")
            guard let state = error.postgresSQLState, state.hasPrefix("23") else {
                // Not the data's verdict (the SQL is wrong, a right is missing, a timeout):
                // answered without storing, so a retry can succeed once that is fixed.
                logger.error(
                    "command statement failed",
                    metadata: ["db": "\(database)", "contract": "\(command.contract.id)", "error": "\(error.postgresMessage)"])
                return BatchEntry(
                    command: command,
                    result: .failed(
                        WireError(.internal, "the contract's SQL failed in PostgreSQL: \(error.postgresMessage); nothing was written")),
                    logged: nil)
            }
            // Class 23, integrity constraint violation: deterministic, stored and logged like
            // SQLite's constraint failures.
            result = .failed(
                WireError(
                    .constraintViolation, "a constraint refused the command: \(error.postgresMessage)",
                    details: ["sqlstate": .string(state)]))
            status = "failed"
        }
        return record(
            command, result: result, status: status, payload: payloadBytes, payloadHash: payloadHash, known: &known,
            into: &bookkeeping)
    }

    /// A command that ran (or was refused by a constraint): it takes the next seq, its ledger
    /// entry and log row join the batch's bookkeeping, and a later command of the batch with the
    /// same key gets its answer.
    private func record(
        _ command: AdmittedCommand, result: CommandOutcome.Result, status: String, payload payloadBytes: [UInt8],
        payloadHash: String, known: inout [String: IdempotencyLedger.Entry], into bookkeeping: inout Bookkeeping
    ) -> BatchEntry {
        let contract = prepared(command.contract)
        let changes = ChangeSummary(tables: result.isCommitted ? contract.tables : [], keys: command.contract.invalidates)
        let seq = nextSeq
        nextSeq += 1
        let latency = Int64((Clock.monotonicNanoseconds() - command.receivedAt) / 1000)
        let stored: JSONValue
        switch result {
        case .committed(let ack): stored = ack.result
        case .failed(let error): stored = error.json
        }
        let storedText = String(decoding: stored.canonicalBytes(), as: UTF8.self)
        known[Self.ledgerKey(command.actor, command.request.idempotencyKey)] = IdempotencyLedger.Entry(
            payloadHash: payloadHash, seq: seq, status: status, result: stored, expiresMs: nil)
        bookkeeping.actors.append(command.actor)
        bookkeeping.keys.append(command.request.idempotencyKey)
        bookkeeping.hashes.append(payloadHash)
        bookkeeping.seqs.append(seq)
        bookkeeping.statuses.append(status)
        bookkeeping.results.append(storedText)
        bookkeeping.timestamps.append(command.timestamp)
        bookkeeping.expiries.append(command.admittedMs + ledgerRetentionMs)
        bookkeeping.contracts.append(command.contract.id.description)
        bookkeeping.requestIDs.append(command.request.requestID)
        bookkeeping.generatedIDs.append(command.generatedID)
        bookkeeping.payloads.append(String(decoding: payloadBytes, as: UTF8.self))
        bookkeeping.changes.append(String(decoding: changes.canonicalBytes, as: UTF8.self))
        bookkeeping.latencies.append(latency)
        // (Canonical JSON is never empty: '' stands for no context, NULL in the log.)
        bookkeeping.contexts.append(command.request.context.map { String(decoding: $0.json.canonicalBytes(), as: UTF8.self) } ?? "")
        return BatchEntry(
            command: command, result: result,
            logged: BatchEntry.Logged(seq: seq, status: status, changes: changes, latencyMicros: latency, stored: stored,
                storedBytes: Array(storedText.utf8)))
    }

    /// The batch's ledger entries (replacing expired ones) and log rows, in one statement.
    private func send(_ rows: Bookkeeping, on session: PostgresSession) -> EventLoopFuture<PostgresQueryResult> {
        var binds = PostgresBindings(capacity: 15)
        binds.append(rows.actors)
        binds.append(rows.keys)
        binds.append(rows.hashes)
        binds.append(rows.seqs)
        binds.append(rows.statuses)
        binds.append(rows.results)
        binds.append(rows.timestamps)
        binds.append(rows.expiries)
        binds.append(rows.contracts)
        binds.append(rows.requestIDs)
        binds.append(rows.generatedIDs)
        binds.append(rows.payloads)
        binds.append(rows.changes)
        binds.append(rows.latencies)
        binds.append(rows.contexts)
        return session.send(
            """
            WITH rows AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[],
                    $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[])
                    AS r(actor, idempotency_key, payload_hash, seq, status, result, ts, expires_ms, contract, request_id,
                        generated_id, payload, changes, latency_us, context)
            ), ledger AS (
                INSERT INTO \(books).ledger (actor, idempotency_key, payload_hash, seq, status, result, committed_at, expires_ms)
                SELECT actor, idempotency_key, payload_hash, seq, status, result, ts, expires_ms FROM rows
                ON CONFLICT (actor, idempotency_key) DO UPDATE SET payload_hash = EXCLUDED.payload_hash, seq = EXCLUDED.seq,
                    status = EXCLUDED.status, result = EXCLUDED.result, committed_at = EXCLUDED.committed_at,
                    expires_ms = EXCLUDED.expires_ms
            )
            INSERT INTO \(books).log (seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload, status,
                result, changes, latency_us, context)
            SELECT seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload, status, result, changes,
                latency_us, NULLIF(context, '') FROM rows
            """, binds)
    }

    private func unavailable(_ reason: String) -> WireError {
        WireError(
            .unavailable,
            "\(database) is on PostgreSQL, which cannot be reached (\(reason)); nothing was written, retry with the same key",
            retryable: true, retryAfterMs: Self.retryAfterMs, details: ["db": .string(database)])
    }

    private func failAll(_ batch: [AdmittedCommand], _ error: WireError) -> [CommandOutcome] {
        batch.map { CommandOutcome(token: $0.token, requestID: $0.request.requestID, result: .failed(error), events: []) }
    }

    /// The bytes of both schemas' tables, indexes and TOAST (`pg_total_relation_size`).
    private func usedBytes(_ session: PostgresSession) throws -> Int64 {
        try session.value(
            Int64.self,
            """
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ($1, $2) AND c.relkind IN ('r', 'm')
            """, binds(provisioning.dataSchema, provisioning.bookkeepingSchema)) ?? 0
    }

    private func prepared(_ contract: Contract) -> PostgresContract {
        if let prepared = contracts[contract.id] { return prepared }
        let prepared = PostgresContract(contract)
        contracts[contract.id] = prepared
        return prepared
    }
}

extension CommandOutcome.Result {
    var isCommitted: Bool {
        if case .committed = self { return true }
        return false
    }
}
