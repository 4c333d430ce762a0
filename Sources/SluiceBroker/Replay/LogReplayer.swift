public import Foundation
import GRDB
public import Logging
import SluiceWire

/// Rebuilds a database by running its command log again, through the same writer code the
/// broker uses, into a new file; and checks the result against the live database.
///
/// Replay is deterministic because everything a command could vary on was fixed at admission and
/// stored in the log: the timestamp (`:_now`), the generated id (`:_id`), the actor and key. The
/// log, the ledger and the seqs of the rebuilt file match the original's.
public struct LogReplayer {
    /// What a replay did.
    public struct Report: Sendable {
        public var replayed: Int
        public var lastSeq: Int64
        /// Table-by-table differences with the live database (only when verifying).
        public var differences: [String]
    }

    /// The replay stopped because the log and the rerun disagree, or the inputs are unusable.
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public let registry: ContractRegistry
    public let logger: Logger
    /// The Swift handlers of `"handler": "swift"` contracts, by `name@version` (as the broker had them).
    public let handlers: [String: CommandHandler]

    public init(
        registry: ContractRegistry, handlers: [String: CommandHandler] = [:],
        logger: Logger = Logger(label: "sluice.replay")
    ) {
        self.registry = registry
        self.handlers = handlers
        self.logger = logger
    }

    /// Replays `database` (a live `<name>.db`) into `target` (a new `<name>.db` path) up to
    /// `toSeq` (default: everything). With `verify`, compares every user table of the rebuilt file
    /// with the live one, as of the same snapshot the log was read from.
    /// `progress`, when given, is called after every 1,000 commands with how many ran so far and
    /// the last seq to replay — on the replay's writer thread, one call at a time, never after
    /// `replay` returns.
    public func replay(
        database source: URL, into target: URL, toSeq: Int64? = nil, verify: Bool,
        progress: ((_ replayed: Int, _ lastSeq: Int64) -> Void)? = nil
    ) throws -> Report {
        let name = source.deletingPathExtension().lastPathComponent
        guard target.pathExtension == "db", target.deletingPathExtension().lastPathComponent == name else {
            throw Failure(message: "the target must be named \(name).db (in another directory)")
        }
        guard !FileManager.default.fileExists(atPath: target.path) else {
            throw Failure(message: "\(target.path) already exists; replay builds a new file")
        }
        var configuration = Configuration()
        configuration.readonly = true
        let live = try DatabaseQueue(path: source.path, configuration: configuration)
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        // One read transaction: the log that is replayed and the tables it is compared with come
        // from the same snapshot, even while a broker keeps writing.
        return try live.read { db in
            let retention = try DatabaseFile.meta("ledger_retention_ms", in: db)
            // A compacted log starts after a snapshot: the rebuilt file starts as that snapshot.
            var startAfter: Int64 = 0
            if try DatabaseFile.firstLoggedSeq(in: db) > 1 {
                let snapshot = source.deletingLastPathComponent().appendingPathComponent("snapshots/\(name).db")
                guard FileManager.default.fileExists(atPath: snapshot.path) else {
                    throw Failure(message: "the log of \(name) was compacted but \(snapshot.path) is missing")
                }
                try FileManager.default.copyItem(at: snapshot, to: target)
                startAfter =
                    try DatabaseQueue(path: target.path).read { try DatabaseFile.meta("snapshot_seq", in: $0) } ?? 0
                if let toSeq, toSeq < startAfter {
                    throw Failure(
                        message: "seq \(toSeq) is inside the compacted part of the log (snapshot at \(startAfter))")
                }
            }
            let rebuilt = try DatabaseFile(
                name: name, directory: target.deletingLastPathComponent(), migrations: registry.migrations[name] ?? [],
                synchronous: .normal, ledgerRetentionMs: retention ?? DatabaseFile.defaultLedgerRetentionMs
            )
            let writer = try CommandWriter(
                database: rebuilt, maxBatchSize: 1000, idleCheckpointMs: 1000, auditKey: [], registry: registry,
                handlers: try CommandWriter.handlers(handlers, of: registry, database: name), publishes: false,
                logger: logger
            )
            let head = try DatabaseFile.lastSeq(in: db)
            let last = min(toSeq ?? head, head)
            // Log rows read by column position through SQLite's C API: a replay reads every row once,
            // and GRDB's row objects (copied, looked up by name) cost as much as the rerun's parsing.
            let hasContext = try db.columns(in: "sluice_log").contains { $0.name == "context" }
            let rows = try db.makeStatement(
                sql: """
                    SELECT \(CommandLog.Row.columns(hasContext: hasContext))
                    FROM sluice_log WHERE seq > ? AND seq <= ? ORDER BY seq
                    """)
            rows.bind(startAfter, at: 1)
            rows.bind(last, at: 2)
            // This thread reads and parses the log; the runner's thread runs each batch through
            // the writer and checks it against the log while the next one is read.
            var replayed = 0
            let runner = ReplayBatchRunner<ReplayBatch>(name: "sluice-replay-\(name)") { batch in
                let outcomes = writer.runBatch(batch.commands)
                // Through the buffer: an array's subscript hands out a copy of the row.
                try batch.rows.withUnsafeBufferPointer { rows in
                    for index in outcomes.indices { try check(outcomes[index], against: rows[index]) }
                }
                replayed += batch.commands.count
                progress?(replayed, last)
            }
            do {
                var batch = ReplayBatch()
                try rows.forEachRowDirect(in: db) { statement in
                    let row = CommandLog.Row(statement)
                    batch.commands.append(try command(from: row))
                    batch.rows.append(row)
                    if batch.commands.count == ReplayBatch.size {
                        try runner.submit(batch)
                        batch = ReplayBatch()
                    }
                }
                if !batch.commands.isEmpty { try runner.submit(batch) }
                try runner.finish()
            } catch {
                runner.cancel()
                throw error
            }
            let differences = verify ? try DatabaseComparison.differences(live: db, rebuilt: rebuilt.pool) : []
            return Report(replayed: replayed, lastSeq: last, differences: differences)
        }
    }

    /// Log rows to run again in one transaction, and the commands made of them, by position.
    /// Two arrays, not one of pairs: the writer takes the commands as they are, and neither side
    /// copies the other's (reading a pair's row out of an array copied it whole, its strings
    /// retained and released: 4% of the runner's thread, the one that bounds a replay).
    struct ReplayBatch {
        static let size = 1000
        var commands: [AdmittedCommand] = []
        var rows: [CommandLog.Row] = []

        init() {
            commands.reserveCapacity(ReplayBatch.size)
            rows.reserveCapacity(ReplayBatch.size)
        }
    }

    /// Compares every user table of an existing `rebuilt` file with the live database.
    public static func compare(live source: URL, rebuilt target: URL) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        let live = try DatabaseQueue(path: source.path, configuration: configuration)
        let rebuilt = try DatabasePool(path: target.path, configuration: configuration)
        return try live.read { db in try DatabaseComparison.differences(live: db, rebuilt: rebuilt) }
    }

    func command(from row: CommandLog.Row) throws -> AdmittedCommand {
        guard let id = ContractID(row.contract), let contract = registry[id] else {
            throw Failure(
                message: "seq \(row.seq): contract \(row.contract) is not loaded; pass its contract set with --contracts")
        }
        let (payload, canonical) = try JSONValue.parsingCanonical(row.payload)
        var request = CommandRequest(
            requestID: row.requestID, contract: id, idempotencyKey: row.idempotencyKey, context: row.callerContext,
            payload: payload)
        // The log stores canonical payloads: hashed and logged again as they are.
        if canonical { request.canonicalPayload = row.payload }
        return AdmittedCommand(
            token: UInt64(row.seq), actor: row.actor, request: request, contract: contract, timestamp: row.timestamp,
            admittedMs: Clock.milliseconds(fromTimestamp: row.timestamp) ?? 0, generatedID: row.generatedID,
            receivedAt: 0, deadline: nil
        )
    }

    /// The rerun must give what the log says: same seq, same status, same stored result (both are
    /// canonical JSON, so equal results are equal bytes).
    func check(_ outcome: CommandOutcome, against row: CommandLog.Row) throws {
        var logged: String { String(decoding: row.result, as: UTF8.self) }
        switch outcome.result {
        case .committed(let ack)
        where row.status == "ok" && ack.seq == row.seq && !ack.duplicate
            && (outcome.storedResult ?? ack.result.canonicalBytes()) == row.result:
            return
        case .failed(let error)
        where row.status == "failed"
            && error.code.rawValue == (try? JSONValue(parsing: row.result))?["code"]?.stringValue:
            return
        case .committed(let ack):
            throw Failure(
                message:
                    "seq \(row.seq): the log says \(row.status) \(logged), the replay committed seq \(ack.seq) \(ack.result)"
            )
        case .failed(let error):
            throw Failure(
                message: "seq \(row.seq): the log says \(row.status) \(logged), the replay failed: \(error)")
        }
    }
}
