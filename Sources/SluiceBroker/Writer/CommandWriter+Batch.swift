import Foundation
import GRDB
import Logging
import SluiceWire

extension CommandWriter {
    /// Runs one batch in one transaction. Never throws: every command gets an outcome, and if the
    /// transaction itself fails, every command is answered `internal` (retryable) and nothing is
    /// acknowledged.
    func runBatch(_ batch: [AdmittedCommand]) -> [CommandOutcome] {
        let firstSeq = nextSeq
        var pending: [BatchEntry] = []
        pending.reserveCapacity(batch.count)
        do {
            try database.pool.writeWithoutTransaction { db in
                // Through GRDB (which follows the transaction's state), from its statement cache:
                // a batch of a few commands must not pay for compiling them.
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                do {
                    let statements = try bookkeeping(db)
                    for command in batch { pending.append(try run(command, using: statements, in: db)) }
                    // Under sustained load the writer is never idle: expired entries of compacted
                    // log rows are removed here too, twice as many as the batch has commands at
                    // most, so `sluice_ledger` shrinks within its retention without an idle moment
                    // — once one is due: most batches find that table empty or unexpired, and
                    // skip the statement (at 8 clients × 1 in flight it was 4% of the writer).
                    let nowMs = Clock.now().milliseconds
                    if publishes, nowMs >= ledgerSweepDueMs {
                        _ = try IdempotencyLedger.sweep(
                            nowMs: nowMs, limit: 2 * batch.count, using: statements.ledgerSweep, in: db)
                        ledgerSweepDueMs = try IdempotencyLedger.earliestExpiry(in: db) ?? Int64.max
                    }
                    try db.cachedStatement(sql: "COMMIT").execute()
                } catch {
                    try? db.execute(sql: "ROLLBACK")
                    throw error
                }
            }
        } catch {
            nextSeq = firstSeq
            // A sweep rolled back with the batch: its entries are back, so look again.
            ledgerSweepDueMs = Int64.min
            recorder.drop()
            logger.error(
                "batch rolled back",
                metadata: ["db": "\(database.name)", "size": "\(batch.count)", "error": "\(error)"])
            // A full database stays full for a retry: say so. Anything else may pass next time.
            let failure =
                (error as? DatabaseError)?.resultCode.primaryResultCode == .SQLITE_FULL
                ? WireError(
                    .storageLimit,
                    "\(database.name) could not grow: the disk is full or the database reached its storage limit; nothing in this batch was written, and the same command with the same key runs once there is room")
                : WireError(.internal, "the transaction could not commit; nothing was written, retry with the same key")
            return batch.map {
                CommandOutcome(token: $0.token, requestID: $0.request.requestID, result: .failed(failure), events: [])
            }
        }
        guard publishes else {
            return pending.map {
                CommandOutcome(unpublished: $0.command.token, result: $0.result, storedResult: $0.logged?.storedBytes)
            }
        }
        // Read once per batch: a subscription granted before these commands were admitted is seen.
        let eventsWanted = eventDemand.isWanted
        return pending.map { entry in
            var outcome = CommandOutcome(
                entry, epoch: database.epoch,
                events: eventsWanted
                    ? entry.events(
                        database: database.name, epoch: database.epoch, framing: eventFraming, registry: registry,
                        auditKey: auditKey) : [])
            if let logged = entry.logged {
                outcome.changedTables = logged.changes.tableNames
                if outcome.changedTables.isEmpty, case .committed(let ack) = entry.result,
                    (ack.result["changes"]?.intValue ?? 0) > 0
                {
                    outcome.changedUnnamedRows = true
                }
            }
            return outcome
        }
    }

    private func run(_ command: AdmittedCommand, using statements: BookkeepingStatements, in db: Database) throws
        -> BatchEntry
    {
        if let expired = command.deadlineError() {
            return BatchEntry(command: command, result: .failed(expired), logged: nil)
        }
        let payloadBytes = command.canonicalPayload
        let payloadHash = command.payloadHash
        // A replayed log holds only commands that ran: none of them was a duplicate or a mismatch
        // when it was admitted, so a replay skips the lookup.
        if publishes,
            let previous = try IdempotencyLedger.lookup(
                actor: command.actor, key: command.request.idempotencyKey, nowMs: command.admittedMs,
                using: statements.ledgerLookup, in: db, arena: bindingArena)
        {
            return BatchEntry(
                command: command, result: previous.answer(toPayloadHash: payloadHash, db: database.name), logged: nil)
        }

        // A single statement is atomic on its own (SQLite undoes a failed statement and keeps the
        // transaction), so only multi-statement contracts pay for a savepoint.
        let savepoint = command.contract.statements.count > 1 || command.contract.handler
        if savepoint { try db.cachedStatement(sql: "SAVEPOINT sluice_command").execute() }
        let result: CommandOutcome.Result
        let status: String
        do {
            let value =
                if command.contract.handler, let handler = handlers[command.contract.id] {
                    try ContractRunner.run(command, handler: handler, in: db)
                } else {
                    try prepared(command.contract, in: db).run(command, in: db, arena: bindingArena)
                }
            if savepoint { try db.cachedStatement(sql: "RELEASE SAVEPOINT sluice_command").execute() }
            result = .committed(Acknowledgement(db: database.name, seq: nextSeq, duplicate: false, result: value))
            status = "ok"
        } catch let error as DatabaseError {
            // Some errors (disk full, I/O, out of memory) make SQLite roll back the whole
            // transaction. Going on would run the rest of the batch in autocommit mode, so the
            // batch fails instead and nothing in it is acknowledged.
            guard db.isInsideTransaction else { throw error }
            if savepoint {
                try db.execute(sql: "ROLLBACK TO SAVEPOINT sluice_command")
                try db.execute(sql: "RELEASE SAVEPOINT sluice_command")
            }
            recorder.drop()
            let wire = ContractRunner.wireError(for: error)
            guard wire.code == .constraintViolation else {
                // Not deterministic: answer without storing, so a retry can succeed.
                return BatchEntry(command: command, result: .failed(wire), logged: nil)
            }
            result = .failed(wire)
            status = "failed"
        } catch let violation as RuleViolation {
            // A handler's refusal is deterministic like a constraint: undone, stored, logged.
            try db.execute(sql: "ROLLBACK TO SAVEPOINT sluice_command")
            try db.execute(sql: "RELEASE SAVEPOINT sluice_command")
            recorder.drop()
            var details = violation.details
            details["rule"] = .string(violation.rule)
            result = .failed(WireError(.ruleViolation, violation.message, details: details))
            status = "failed"
        } catch {
            // Any other error of a handler (its SQL refused, a bug): undone, answered, not stored.
            guard db.isInsideTransaction else { throw error }
            if savepoint {
                try db.execute(sql: "ROLLBACK TO SAVEPOINT sluice_command")
                try db.execute(sql: "RELEASE SAVEPOINT sluice_command")
            }
            recorder.drop()
            logger.error(
                "command handler failed", metadata: ["contract": "\(command.contract.id)", "error": "\(error)"])
            return BatchEntry(
                command: command,
                result: .failed(WireError(.internal, "the command's handler failed; nothing was written")), logged: nil)
        }
        let changes = recorder.takeSummary(keys: command.contract.invalidates)
        let seq = nextSeq
        let latency = Int64((Clock.monotonicNanoseconds() - command.receivedAt) / 1000)
        let stored: JSONValue
        switch result {
        case .committed(let ack): stored = ack.result
        case .failed(let error): stored = error.json
        }
        let storedBytes = stored.canonicalBytes()
        // The log row is the command's idempotency entry too (``IdempotencyLedger``).
        try CommandLog.append(
            CommandLog.Entry(
                seq: seq, timestamp: command.timestamp, actor: command.actor, contract: command.contract.id.description,
                idempotencyKey: command.request.idempotencyKey, requestID: command.request.requestID,
                generatedID: command.generatedID, payload: payloadBytes, status: status, result: storedBytes,
                changes: changes.canonicalBytes, latencyMicros: latency,
                context: command.request.context.map { $0.json.canonicalBytes() }, payloadHash: payloadHash,
                expiresMs: command.admittedMs + database.ledgerRetentionMs
            ),
            using: statements.logAppend, in: db, arena: bindingArena
        )
        nextSeq += 1
        return BatchEntry(
            command: command, result: result,
            logged: BatchEntry.Logged(
                seq: seq, status: status, changes: changes, latencyMicros: latency,
                stored: stored, storedBytes: storedBytes))
    }

    /// The ledger's and the log's statements, prepared on this writer's connection once.
    func bookkeeping(_ db: Database) throws -> BookkeepingStatements {
        if let statements = bookkeepingStatements { return statements }
        let statements = BookkeepingStatements(
            ledgerLookup: try db.makeStatement(sql: IdempotencyLedger.lookupSQL),
            logAppend: try db.makeStatement(sql: CommandLog.appendSQL),
            ledgerSweep: try db.makeStatement(sql: IdempotencyLedger.sweepSQL))
        bookkeepingStatements = statements
        return statements
    }

    /// `contract`'s statements, prepared on this writer's connection the first time it runs.
    private func prepared(_ contract: Contract, in db: Database) throws -> PreparedContract {
        if let last = lastPrepared, last.contract === contract { return last.prepared }
        let prepared: PreparedContract
        if let known = preparedContracts[contract.id] {
            prepared = known
        } else {
            prepared = try PreparedContract(contract, in: db)
            preparedContracts[contract.id] = prepared
        }
        lastPrepared = (contract, prepared)
        return prepared
    }
}
