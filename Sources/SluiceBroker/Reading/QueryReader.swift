import Foundation
import GRDB
import GRDBSQLite
import Logging
import SluiceWire
import SluiceZMQ
import Synchronization

/// One of the read threads: runs named queries on WAL snapshot connections (never the writer's),
/// bounded by a deadline, a row limit and a byte limit, and reports back to the I/O thread, which
/// hands it the next query only when it is idle (the Guide's load-balancing pattern, so a slow
/// query never holds up others queued behind it).
final class QueryReader: BrokerWorker {
    struct Job: Sendable {
        var token: UInt64
        var contract: Contract
        var parameters: JSONValue
        var actor: String
        var limit: Int
        /// Monotonic nanoseconds.
        var deadline: UInt64
        /// The projections the query reads: the source seq each reflects is read in the same snapshot.
        var projections: [String] = []
        /// Set by the I/O thread when everyone waiting for the answer has gone.
        var cancellation = ReadCancellation()
    }

    /// A query's answer: the `RESULT` body and what the snapshot reflected.
    struct Snapshot: Sendable {
        var body: [UInt8]
        var seq: Int64
        /// Per projection read: the source seq its table reflected.
        var projectionSeqs: [String: Int64]
    }

    struct Answer: Sendable {
        var token: UInt64
        var reader: Int
        var contract: ContractID
        /// The `RESULT` body and its snapshot, or why there is none.
        var result: Result<Snapshot, WireError>
    }

    enum Message: Sendable {
        case run(Job)
        case stop
    }

    static func inboxEndpoint(_ index: Int) -> String { "inproc://sluice-query-reader-\(index)" }

    let index: Int
    let databases: [String: DatabaseFile]
    /// This thread's sessions to the `exclusive-postgres` databases (nil: none is served).
    let postgres: PostgresReads?
    let logger: Logger

    init(index: Int, databases: [String: DatabaseFile], postgres: PostgresReads? = nil, logger: Logger) {
        self.index = index
        self.databases = databases
        self.postgres = postgres
        self.logger = logger
    }

    var workerName: String { "query-reader-\(index)" }

    func serve(inbox: ZMQSocket, notices: ZMQSocket) throws(ZMQError) {
        defer { postgres?.closeAll() }
        while let message = try inbox.receiveObject(Message.self) {
            switch message {
            case .run(let job):
                let answer = Answer(token: job.token, reader: index, contract: job.contract.id, result: execute(job))
                try notices.sendObject(BrokerNotice.queryAnswer(answer))
            case .stop: return
            }
        }
    }

    func execute(_ job: Job) -> Result<Snapshot, WireError> {
        if let postgres, postgres.serves(job.contract.database) {
            guard Clock.monotonicNanoseconds() < job.deadline else {
                return .failure(WireError(.deadlineExceeded, "the query waited past its deadline and was not run"))
            }
            guard !job.cancellation.isCancelled else { return .failure(ReadCancellation.error) }
            return executeOnPostgres(job, postgres)
        }
        guard let database = databases[job.contract.database] else {
            return .failure(WireError(.internal, "no database \(job.contract.database)"))
        }
        guard Clock.monotonicNanoseconds() < job.deadline else {
            return .failure(WireError(.deadlineExceeded, "the query waited past its deadline and was not run"))
        }
        guard !job.cancellation.isCancelled else { return .failure(ReadCancellation.error) }
        do {
            return .success(
                try database.pool.read { db in
                    let seq = try DatabaseFile.lastSeq(in: db)
                    var projectionSeqs: [String: Int64] = [:]
                    for name in job.projections {
                        projectionSeqs[name] = try ProjectionTable.state(of: name, in: db)?.sourceSeq ?? -1
                    }
                    let spec = job.contract.statements[0]
                    let statement = try db.cachedStatement(sql: spec.sql)
                    let input = job.parameters.objectMembers ?? JSONObject()
                    try statement.bind(
                        positional: spec.bindOrder.map { name in
                            switch name {
                            case "_now": .string(Clock.timestamp())
                            case "_actor": .string(job.actor)
                            default: name.hasPrefix("_") ? nil : input[name]
                            }
                        })
                    let rows = try QueryReader.interruptible(job.deadline, job.cancellation, on: db) {
                        try QueryReader.collect(statement, in: db, limit: job.limit, maxBytes: job.contract.maxBytes)
                    }
                    var body = CanonicalObjectWriter(capacity: rows.bytes.count + 128)
                    body.value("columns", .array(statement.columnNames.map(JSONValue.string)))
                    body.string("db", database.name)
                    if !projectionSeqs.isEmpty {
                        body.value("projections", .object(JSONObject(projectionSeqs.mapValues(JSONValue.int))))
                    }
                    body.raw("rows", rows.bytes)
                    body.int("seq", seq)
                    body.bool("truncated", rows.truncated)
                    return Snapshot(body: body.finish(), seq: seq, projectionSeqs: projectionSeqs)
                }
            )
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            if job.cancellation.isCancelled { return .failure(ReadCancellation.error) }
            return .failure(WireError(.deadlineExceeded, "the query ran past its deadline and was stopped"))
        } catch {
            logger.error("query failed", metadata: ["contract": "\(job.contract.id)", "error": "\(error)"])
            return .failure(WireError(.internal, "the query failed: \(error)", retryable: false))
        }
    }

    /// Rows as a JSON array of arrays, cut at `limit` rows or `maxBytes` bytes.
    /// Stepped through SQLite's C API, so text keeps every byte (GRDB's rows stop at a NUL).
    static func collect(_ statement: Statement, in db: Database, limit: Int, maxBytes: Int) throws -> (
        bytes: [UInt8], truncated: Bool
    ) {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        var count = 0
        var truncated = false
        try statement.readRowsDirect(in: db) { row in
            guard count < limit else {
                truncated = true
                return false
            }
            var encoded: [UInt8] = []
            JSONValue.array(Statement.jsonValues(row)).append(to: &encoded)
            guard bytes.count + encoded.count < maxBytes else {
                truncated = true
                return false
            }
            if count > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes += encoded
            count += 1
            return true
        }
        return (bytes + [UInt8(ascii: "]")], truncated)
    }

    /// Runs `body` with SQLite's progress handler interrupting it once `deadline` passes or the
    /// read is cancelled (every 1,000 virtual-machine steps: a few microseconds).
    static func interruptible<T>(
        _ deadline: UInt64, _ cancellation: ReadCancellation, on db: Database, _ body: () throws -> T
    ) throws -> T {
        let box = Unmanaged.passRetained(Interruption(deadline: deadline, cancellation: cancellation))
        sqlite3_progress_handler(
            db.sqliteConnection, 1000,
            { context in
                let interruption = Unmanaged<Interruption>.fromOpaque(context!).takeUnretainedValue()
                return interruption.isDue ? 1 : 0
            }, box.toOpaque()
        )
        defer {
            sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil)
            box.release()
        }
        return try body()
    }
}

/// What SQLite's progress handler checks, handed to it as its context pointer.
private final class Interruption {
    let deadline: UInt64
    let cancellation: ReadCancellation
    init(deadline: UInt64, cancellation: ReadCancellation) {
        self.deadline = deadline
        self.cancellation = cancellation
    }
    var isDue: Bool { cancellation.isCancelled || Clock.monotonicNanoseconds() > deadline }
}

/// A read nobody waits for any more (its client's connection closed): set by the I/O thread,
/// checked by the reader before it runs the query and by SQLite's progress handler while it runs.
final class ReadCancellation: Sendable {
    private let cancelled = Atomic<Bool>(false)
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    func cancel() { cancelled.store(true, ordering: .relaxed) }
    /// The reader's answer to a cancelled read. It never goes on the wire (the I/O thread dropped
    /// the read's waiters when it cancelled it): it only frees the reader.
    static let error = WireError(.internal, "the read was cancelled: its client went away")
}
