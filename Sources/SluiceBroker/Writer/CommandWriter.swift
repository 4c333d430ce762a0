import CSQLite
import Foundation
import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// The statements every command runs besides its contract's, prepared once per writer: looking
/// a key up in the ledger, appending to the log (whose row is the key's entry from then on), and
/// each batch's sweep of expired entries of compacted log rows.
struct BookkeepingStatements {
    let ledgerLookup: Statement
    let logAppend: Statement
    let ledgerSweep: Statement
}

/// The single writer of one database file, on its own thread.
///
/// It blocks on its inbox, then drains whatever else is queued (up to `maxBatchSize`) and runs the
/// lot in one `BEGIN IMMEDIATE … COMMIT`: group commit, so the fsync is paid once per batch, not
/// per command. Outcomes go back to the I/O thread only after COMMIT returns.
final class CommandWriter: BrokerWorker {
    let database: DatabaseFile
    let maxBatchSize: Int
    let idleCheckpointMs: Int32
    let logger: Logger
    /// Keys `hash` redactions in audit events.
    let auditKey: [UInt8]
    /// False when replaying a log: nothing is sent, so replies and events are not encoded.
    let publishes: Bool
    /// For audit policies (contracts' and plugins' levels).
    let registry: ContractRegistry
    var nextSeq: Int64
    let recorder: ChangeRecorder
    /// The projections whose tables live in this database, and the databases they read.
    let projections: [String: Projection]
    let projectionSources: [String: DatabaseFile]
    /// The Swift code of this broker's `"handler": "swift"` contracts.
    let handlers: [ContractID: CommandHandler]
    /// Statement contracts' statements, prepared on this writer's connection as each first runs.
    /// Used on the writer's thread only.
    var preparedContracts: [ContractID: PreparedContract] = [:]
    /// The contract run last and its statements: a run of commands of one contract finds them
    /// by identity, without hashing the contract's id (held strongly, so the identity is never
    /// another contract's).
    var lastPrepared: (contract: Contract, prepared: PreparedContract)?
    /// Where the text values of the writer's statements are bound in place (``BindingArena``);
    /// writer's thread only.
    let bindingArena = BindingArena()
    /// The ledger's and the log's statements, prepared on first use; writer's thread only.
    var bookkeepingStatements: BookkeepingStatements?
    /// When the earliest entry of `sluice_ledger` expires, as this writer last looked (`Int64.max`:
    /// the table is empty; `Int64.min`: not known, so the next batch sweeps and looks). Only this
    /// writer adds entries there (a compaction, which resets it), so a batch sweeps only once one
    /// is due instead of running a `DELETE` per batch that finds nothing.
    var ledgerSweepDueMs = Int64.min
    /// The topics and event header of this database's events.
    let eventFraming: EventFraming
    /// Whether any subscription asks for events; until one does, they are not encoded.
    let eventDemand: EventDemand

    init(
        database: DatabaseFile, maxBatchSize: Int, idleCheckpointMs: Int, auditKey: [UInt8], registry: ContractRegistry,
        projectionSources: [String: DatabaseFile] = [:], handlers: [ContractID: CommandHandler] = [:],
        publishes: Bool = true, eventDemand: EventDemand = EventDemand(wanted: true),
        logger: Logger
    ) throws {
        self.handlers = handlers
        self.eventDemand = eventDemand
        let projections = registry.projections(into: database.name)
        self.projections = Dictionary(uniqueKeysWithValues: projections.map { ($0.name, $0) })
        self.projectionSources = projectionSources
        recorder = ChangeRecorder(ignoring: Set(projections.map { $0.table.lowercased() }))
        self.database = database
        eventFraming = EventFraming(database: database.name, epoch: database.epoch)
        self.auditKey = auditKey
        self.publishes = publishes
        self.registry = registry
        self.maxBatchSize = maxBatchSize
        self.idleCheckpointMs = Int32(idleCheckpointMs)
        self.logger = logger
        self.nextSeq = try database.lastSeq() + 1
        database.pool.writeWithoutTransaction { [recorder] db in recorder.install(on: db) }
    }

    static func inboxEndpoint(_ database: String) -> String { "inproc://sluice-writer-\(database)" }

    /// `handlers` by contract id, checked against `registry`: every handler contract has one, and
    /// every one names a handler contract.
    static func handlers(
        _ handlers: [String: CommandHandler], of registry: ContractRegistry, database: String? = nil
    ) throws -> [ContractID: CommandHandler] {
        var byID: [ContractID: CommandHandler] = [:]
        for (name, handler) in handlers {
            guard let id = ContractID(name), let contract = registry[id], contract.handler else {
                throw ContractError(
                    file: name, "a command handler is registered for \(name), which is no contract with \"handler\": \"swift\"")
            }
            byID[id] = handler
        }
        for contract in registry.contracts.values
        where contract.handler && byID[contract.id] == nil && (database == nil || contract.database == database) {
            throw ContractError(
                file: contract.file,
                "\(contract.id) is implemented in Swift (\"handler\": \"swift\"), and no handler is registered for it (BrokerConfiguration.commandHandlers; a replay: LogReplayer(handlers:))")
        }
        return byID
    }

    var workerName: String { database.name }

    /// Runs batches until `drainAndStop` arrives and everything queued before it has run. Its
    /// own loop (not one message at a time): it batches what has arrived, lets a compaction end
    /// a batch, merges projection refreshes, and does idle maintenance when the inbox is quiet.
    func serve(inbox: ZMQSocket, notices: ZMQSocket) throws(ZMQError) {
        var stopping = false
        // Commands received and not yet run: a hand-over may bring more than one batch holds.
        var queue: [AdmittedCommand] = []
        var compaction: (token: UInt64, keep: Int64)?
        // Projections to refresh once the commands received so far have run: requests that
        // arrive while one waits merge, and one refresh reads the newest source snapshot.
        var refreshes: Set<String> = []
        func take(_ message: WriterMessage) {
            switch message {
            case .commands(let commands, _): queue += commands  // (the released outcomes are freed here)
            case .drainAndStop: stopping = true
            case .compact(let token, let keep): compaction = (token, keep)
            case .refreshProjections(let names): refreshes.formUnion(names)
            case .release: break  // freed here, on the thread that allocated them
            }
        }
        // How long to wait for work before doing idle maintenance: -1 (forever) when there is
        // none to do, the checkpoint delay after a batch or a compaction, or until the next entry of
        // sluice_ledger expires.
        var idleTimeout: Int32 = idleMaintenance()
        while !stopping || !queue.isEmpty || compaction != nil || !refreshes.isEmpty {
            if queue.isEmpty && compaction == nil && refreshes.isEmpty {
                try inbox.setReceiveTimeout(idleTimeout)
                guard let first = try inbox.receiveObject(WriterMessage.self) else {
                    idleTimeout = idleMaintenance()
                    continue
                }
                take(first)
            }
            // A compaction ends the batch: it runs after the commands queued before it.
            while queue.count < maxBatchSize, !stopping, compaction == nil,
                let next = try inbox.receiveObject(WriterMessage.self, dontWait: true)
            {
                take(next)
            }
            if !queue.isEmpty {
                let batch: [AdmittedCommand]
                if queue.count <= maxBatchSize {
                    batch = queue  // the whole queue, not copied
                    queue = []
                } else {
                    batch = Array(queue.prefix(maxBatchSize))
                    queue.removeFirst(batch.count)
                }
                let outcomes = runBatch(batch)
                try notices.sendObject(BrokerNotice.outcomes(outcomes, database: database.name, commands: batch))
                idleTimeout = idleCheckpointMs
            }
            if let pending = compaction, queue.isEmpty {
                compaction = nil
                try notices.sendObject(BrokerNotice.compacted(token: pending.token, compact(keep: pending.keep)))
                // The entries it moved into sluice_ledger expire some day: the next idle round
                // looks when.
                idleTimeout = idleCheckpointMs
            }
            if !refreshes.isEmpty {
                let names = refreshes.sorted()
                refreshes.removeAll()
                try notices.sendObject(BrokerNotice.projected(database: database.name, refreshProjections(names)))
                idleTimeout = idleCheckpointMs
            }
        }
        markCleanStop()
        _ = idleMaintenance()
    }

    /// Once the writer goes idle: removes expired entries of compacted log rows from
    /// `sluice_ledger` (a bounded number, so a backlog never holds the write lock for long) and
    /// checkpoints the WAL so it does not grow without bound. Returns how long to wait before the
    /// next round: until the next such entry expires (at most a minute), or forever when there is
    /// none.
    private func idleMaintenance() -> Int32 {
        var next: Int32 = -1
        do {
            let now = Clock.now().milliseconds
            let (removed, earliest) = try database.pool.write { db in
                let removed = try IdempotencyLedger.sweep(nowMs: now, limit: 10_000, in: db)
                return (removed, try IdempotencyLedger.earliestExpiry(in: db))
            }
            if removed > 0 {
                logger.debug(
                    "expired ledger entries removed", metadata: ["db": "\(database.name)", "count": "\(removed)"])
            }
            ledgerSweepDueMs = earliest ?? Int64.max
            if let earliest { next = Int32(max(10, min(60_000, earliest - now + 1))) }
        } catch {
            logger.warning("ledger sweep failed", metadata: ["db": "\(database.name)", "error": "\(error)"])
        }
        checkpoint()
        return next
    }

    /// Refreshes each named projection in a transaction of its own; a failure (the target is full,
    /// say) leaves that table at the seq it had and is reported, and the next refresh tries again.
    ///
    /// These commits sync with NORMAL, not FULL: a projection holds only what its source had
    /// already made durable, and a start rebuilds every projection whose recorded seq is not its
    /// source's, so a refresh lost to a power cut loses nothing — while an fsync per refresh would
    /// compete with the commands' own (measured in benchmarks.md). The next command's FULL commit
    /// syncs the refresh's WAL frames with its own.
    func refreshProjections(_ names: [String]) -> [Result<ProjectionTable.State, ProjectionFailure>] {
        let relaxed = database.synchronous == .full
        if relaxed { relaxSynchronous() }
        defer { if relaxed { restoreFullSynchronous() } }
        return names.compactMap { name in
            guard let projection = projections[name], let source = projectionSources[projection.sourceDatabase] else {
                return nil
            }
            do {
                let state = try database.pool.write { db in
                    // Its changes are not recorded: the table may be emptied at once (truncate).
                    try recorder.withoutRowByRowDeletes(on: db) {
                        try ProjectionTable.refresh(projection, from: source, in: db)
                    }
                }
                recorder.drop()
                return .success(state)
            } catch {
                recorder.drop()
                logger.error("projection refresh failed", metadata: ["projection": "\(name)", "error": "\(error)"])
                return .failure(ProjectionFailure(name: name, reason: "\(error)"))
            }
        }
    }

    private func relaxSynchronous() {
        do {
            try database.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        } catch {
            // Still FULL: the refresh just costs an fsync.
            logger.warning("could not relax synchronous for a projection refresh", metadata: ["error": "\(error)"])
        }
    }

    /// Puts FULL back, read back from the connection. A writer that could not would acknowledge
    /// commands a power cut can lose: it stops the process instead, and the restart rebuilds the
    /// projections from their durable sources.
    private func restoreFullSynchronous() {
        do {
            try SynchronousMode.full.apply(to: database.pool)
        } catch {
            logger.critical("could not restore synchronous = FULL after a projection refresh", metadata: ["error": "\(error)"])
            fatalError("\(database.name): could not restore synchronous = FULL: \(error)")
        }
    }

    /// After the last batch: records that every published seq is on disk, so the next start keeps
    /// the epoch (see ``StreamEpoch``). The final idle maintenance checkpoints it to disk.
    private func markCleanStop() {
        do {
            try database.pool.write { db in try StreamEpoch.markCleanStop(in: db) }
        } catch {
            logger.warning("could not record a clean stop", metadata: ["db": "\(database.name)", "error": "\(error)"])
        }
    }

    /// Checkpoints the WAL without ever waiting: a reader still using it (a long query, a
    /// `SYNC` page) would otherwise keep the writer in SQLite's busy handler for up to its busy
    /// timeout (5 s) while commands queue. Without a busy handler a RESTART checkpoint that meets
    /// a reader copies what it can, like a PASSIVE one, and the next idle moment finishes it.
    ///
    /// RESTART, not TRUNCATE: the next commit writes over the WAL file from its start instead of
    /// growing an emptied file, and a FULL commit that grows the file costs about twice one that
    /// does not (the file system syncs its new size and blocks too; docs/benchmarks.md) — a cost
    /// every command of a plugin that writes now and then would pay. The file stays at most
    /// `journal_size_limit` (``BrokerConfiguration/walSizeLimitBytes``) once it starts over.
    private func checkpoint() {
        do {
            try database.pool.writeWithoutTransaction { db in
                guard let connection = db.sqliteConnection else { return }
                sqlite3_busy_timeout(connection, 0)
                defer { sqlite3_busy_timeout(connection, DatabaseFile.busyTimeoutMs) }
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(RESTART)")
            }
        } catch {
            logger.warning("WAL checkpoint failed", metadata: ["db": "\(database.name)", "error": "\(error)"])
        }
    }
}
