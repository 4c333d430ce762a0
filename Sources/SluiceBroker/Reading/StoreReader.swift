import Foundation
import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// Reads stored state for the I/O thread, on its own thread and WAL read connections, so a read
/// never waits behind a writer's batch nor blocks the I/O thread: `STATUS` lookups in the
/// ledgers, and `SYNC` pages of stored events.
final class StoreReader: BrokerWorker {
    struct Lookup: Sendable {
        var token: UInt64
        var actor: String
        var key: String
        /// Restricts the lookup to one database; nil searches all of them.
        var database: String?
    }

    struct SyncPage: Sendable {
        var token: UInt64
        var requestID: String
        var request: SyncRequest
        /// The stream the topic belongs to: a database name, or `rejected`.
        var stream: String
        /// For `audit.rejected` read by a plugin: only this identity's records.
        var onlyActor: String? = nil
    }

    enum Message: Sendable {
        case lookup(Lookup)
        case sync(SyncPage)
        case stop
    }

    static let inboxEndpoint = "inproc://sluice-store-reader"

    let databases: [String: DatabaseFile]
    /// This thread's sessions to the `exclusive-postgres` databases (nil: none is served).
    let postgres: PostgresReads?
    let registry: ContractRegistry
    let auditKey: [UInt8]
    let audit: DatabaseQueue?
    let auditEpoch: String
    /// Bytes of event bodies per `SYNC` page (``BrokerConfiguration/maxSyncPageBytes``).
    let maxPageBytes: Int
    let logger: Logger

    init(
        databases: [String: DatabaseFile], postgres: PostgresReads? = nil, registry: ContractRegistry,
        auditKey: [UInt8], auditDatabase: URL, auditEpoch: String,
        maxPageBytes: Int = BrokerConfiguration.defaultMaxSyncPageBytes, logger: Logger
    ) {
        self.maxPageBytes = maxPageBytes
        self.databases = databases
        self.postgres = postgres
        self.registry = registry
        self.auditKey = auditKey
        self.auditEpoch = auditEpoch
        self.logger = logger
        var configuration = Configuration()
        configuration.readonly = true
        audit = try? DatabaseQueue(path: auditDatabase.path, configuration: configuration)
    }

    var workerName: String { "store-reader" }

    func serve(inbox: ZMQSocket, notices: ZMQSocket) throws(ZMQError) {
        defer { postgres?.closeAll() }
        while let message = try inbox.receiveObject(Message.self) {
            switch message {
            case .lookup(let lookup):
                try notices.sendObject(BrokerNotice.status(token: lookup.token, status(for: lookup)))
            case .sync(let page):
                try notices.sendObject(BrokerNotice.replay(token: page.token, messages: replay(page)))
            case .stop: return
            }
        }
    }

    /// The ledger entry of (actor, key) in the named database, or in whichever database holds it.
    /// A key is scoped by database, so without `db` two databases may both hold it: that answer
    /// would be a guess, so it is an error naming them.
    func status(for lookup: Lookup) -> Result<CommandStatus, WireError> {
        let names = lookup.database.map { [$0] } ?? (Array(databases.keys) + (postgres?.databases ?? [])).sorted()
        var found: [CommandStatus] = []
        var holders: [String] = []
        // A PostgreSQL database that cannot be read: the key may be there, so "unknown" would be
        // a guess.
        var unreachable: WireError?
        for name in names {
            if let postgres, postgres.serves(name) {
                do {
                    if let entry = try postgresLedgerEntry(name, actor: lookup.actor, key: lookup.key, postgres) {
                        found.append(entry.status(db: name))
                        holders.append(name)
                    }
                } catch let error as WireError {
                    unreachable = error
                } catch {
                    logger.error("ledger lookup failed", metadata: ["db": "\(name)", "error": "\(error.postgresMessage)"])
                    unreachable = PostgresReads.unavailable(name, error.postgresMessage)
                }
                continue
            }
            guard let database = databases[name] else { continue }
            do {
                let entry = try database.pool.read { db in
                    try IdempotencyLedger.lookup(
                        actor: lookup.actor, key: lookup.key, nowMs: Clock.now().milliseconds, in: db
                    )
                }
                if let entry {
                    found.append(entry.status(db: name))
                    holders.append(name)
                }
            } catch {
                logger.error("ledger lookup failed", metadata: ["db": "\(name)", "error": "\(error)"])
            }
        }
        guard found.count <= 1 else {
            return .failure(
                WireError(
                    .invalidMessage,
                    "idempotency key is committed in several databases (\(holders.joined(separator: ", "))): name one with db",
                    details: ["field": "db", "databases": .array(holders.map(JSONValue.string))]))
        }
        if found.isEmpty, let unreachable { return .failure(unreachable) }
        return .success(found.first ?? .unknown)
    }

    /// The first events of a page whose bodies reach `maxBytes` (one at least).
    static func cut(_ events: [(seq: Int64, body: [UInt8])], at maxBytes: Int) -> [(seq: Int64, body: [UInt8])] {
        var bytes = 0
        for (index, event) in events.enumerated() {
            bytes += event.body.count
            if bytes >= maxBytes { return Array(events[...index]) }
        }
        return events
    }

    /// One page of stored events as reply frames: up to `limit` `REPLAY`s (fewer when their
    /// bodies reach `maxPageBytes`), then a `SYNC_END`.
    func replay(_ page: SyncPage) -> [[[UInt8]]] {
        let request = page.request
        do {
            // Each source writes its events' `REPLAY` bodies, envelope and all (``ReplayEnvelope``).
            let (epoch, head, bodies) =
                if let database = databases[page.stream] {
                    try commandEvents(database, page)
                } else if let postgres, postgres.serves(page.stream) {
                    try postgresCommandEvents(page, postgres)
                } else if page.stream == RejectionAuditor.lifecycleStream {
                    try auditorEvents(page, table: "lifecycle", onlyActor: nil)
                } else {
                    try auditorEvents(page, table: "rejections", onlyActor: page.onlyActor)
                }
            // Every REPLAY of the page shares one kind frame and one header frame.
            let kind = Array(MessageKind.replay.rawValue.utf8)
            let header = WireMessage.replyHeader(requestID: page.requestID)
            var messages = bodies.map { _, body in [WireMessage.protocolTag, kind, header, body] }
            let end = SyncEnd(
                topic: request.topic, stream: page.stream, epoch: epoch,
                lastSeq: bodies.last?.seq ?? request.fromSeq - 1,
                headSeq: head
            )
            messages.append(WireMessage.replyFrames(.syncEnd, requestID: page.requestID, body: end.json))
            return messages
        } catch let error as WireError {
            return [WireMessage.replyFrames(.error, requestID: page.requestID, body: error.json)]
        } catch {
            logger.error("SYNC read failed", metadata: ["topic": "\(request.topic)", "error": "\(error)"])
            let failure = WireError(.internal, "could not read the stored events of \(request.topic)")
            return [WireMessage.replyFrames(.error, requestID: page.requestID, body: failure.json)]
        }
    }

    private func commandEvents(_ database: DatabaseFile, _ page: SyncPage) throws -> (
        String, Int64, [(seq: Int64, body: [UInt8])]
    ) {
        let request = page.request
        return try database.pool.read { db in
            let head = try DatabaseFile.lastSeq(in: db)
            let first = try DatabaseFile.firstLoggedSeq(in: db)
            guard request.fromSeq >= first || request.fromSeq > head else {
                throw WireError(
                    .compacted,
                    "seqs before \(first) of \(database.name) were compacted; start from \(first) or rebuild from the snapshot (their audit records are archived: sluice audit export)",
                    details: [
                        "first_seq": .int(first),
                        "snapshot_seq": .int(try DatabaseFile.meta("snapshot_seq", in: db) ?? 0),
                    ]
                )
            }
            // Read by column position through SQLite's C API (a page is thousands of rows).
            let rows = try db.cachedStatement(
                sql: "SELECT \(CommandLog.Row.columns()) FROM sluice_log WHERE seq >= ? ORDER BY seq LIMIT ?")
            rows.bind(request.fromSeq, at: 1)
            rows.bind(Int64(request.limit), at: 2)
            let bodies = try LogRowEvents.replayBodies(
                of: rows, in: db, database: database, registry: registry, key: auditKey,
                invalidation: request.topic == Topic.invalidation(database.name),
                envelope: ReplayEnvelope(epoch: database.epoch, stream: page.stream, topic: request.topic),
                maxBytes: maxPageBytes)
            return (database.epoch, head, bodies)
        }
    }

    /// A page of a stream the auditor stores in `table` of audit.db: `audit.rejected`
    /// (`rejections`) or `audit.lifecycle` (`lifecycle`). With `onlyActor` (a plugin reading its
    /// refusals), only that identity's records, and the head is its latest record: seqs skip the
    /// other identities' refusals.
    private func auditorEvents(_ page: SyncPage, table: String, onlyActor: String?) throws -> (
        String, Int64, [(seq: Int64, body: [UInt8])]
    ) {
        let request = page.request
        guard let audit else { return (auditEpoch, 0, []) }
        return try audit.read { db in
            let filter = onlyActor == nil ? "" : "json_extract(record, '$.actor') = ? AND"
            let actor: [(any DatabaseValueConvertible)?] = onlyActor.map { [$0] } ?? []
            let head =
                try Int64.fetchOne(
                    db, sql: "SELECT coalesce(max(seq), 0) FROM \(table) WHERE \(filter) 1",
                    arguments: StatementArguments(actor)) ?? 0
            // Records older than the retention are gone: say so rather than skip them silently.
            let first = try Int64.fetchOne(db, sql: "SELECT min(seq) FROM \(table)") ?? 1
            if request.fromSeq < first {
                throw WireError(
                    .compacted,
                    "\(request.topic) keeps the newest records only; seqs before \(first) were deleted; start from \(first)",
                    details: ["first_seq": .int(first), "snapshot_seq": .int(0)])
            }
            let rows = try Row.fetchAll(
                db, sql: "SELECT seq, record FROM \(table) WHERE \(filter) seq >= ? ORDER BY seq LIMIT ?",
                arguments: StatementArguments(actor + [request.fromSeq, request.limit])
            )
            let records = rows.map { row in (seq: row[0] as Int64, body: Array((row[1] as String).utf8)) }
            let envelope = ReplayEnvelope(epoch: auditEpoch, stream: page.stream, topic: request.topic)
            return (
                auditEpoch, head,
                StoreReader.cut(records, at: maxPageBytes).map { ($0.seq, envelope.body(seq: $0.seq, event: $0.body)) }
            )
        }
    }
}
