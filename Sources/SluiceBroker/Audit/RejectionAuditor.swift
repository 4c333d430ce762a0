import Foundation
import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// Records requests refused before they reached any database (bad frames, unknown contracts,
/// validation failures...) in `audit.db`, then hands them back to the I/O thread to publish on
/// `audit.rejected`. Runs on its own thread so the I/O thread never waits on a disk.
///
/// A batch of records is committed with the broker's synchronous level (FULL by default) before
/// its events are handed over, so a published `audit.rejected` seq is on disk and is never
/// handed out again under the same epoch.
final class RejectionAuditor: BrokerWorker {
    enum Message: Sendable {
        case record([String: JSONValue])
        /// Answered queries for the read audit (the I/O thread sends a pass's worth at once).
        case reads([ReadRecord])
        /// What a reload changed in the plugins, for `audit.lifecycle`.
        case lifecycle([[String: JSONValue]])
        case stop
    }

    static let inboxEndpoint = "inproc://sluice-rejection-auditor"
    static let stream = "rejected"
    /// The plugins' lifecycle (table `lifecycle`, its own seq, the same epoch). A record per
    /// operator action: never pruned.
    static let lifecycleStream = "lifecycle"

    let queue: DatabaseQueue
    let epoch: String
    /// Where refusals beyond the retention go before they are deleted (`audit-archive/rejected`).
    let archive: AuditArchive
    let logger: Logger
    private(set) var nextSeq: Int64
    /// The read audit's next seq (its own sequence, in table `reads`).
    private var nextReadSeq: Int64
    /// `audit.lifecycle`'s next seq.
    private(set) var nextLifecycleSeq: Int64

    /// Records kept: older ones are deleted as new ones are written (a `SYNC` before the oldest
    /// kept is answered `compacted`), so a flood of refusals cannot fill the disk.
    let retention: Int64

    init(directory: URL, synchronous: SynchronousMode = .full, retention: Int64 = 1_000_000, logger: Logger) throws {
        self.retention = max(1, retention)
        archive = AuditArchive(
            directory: directory.appendingPathComponent("audit-archive").appendingPathComponent(RejectionAuditor.stream),
            stream: RejectionAuditor.stream)
        var configuration = Configuration()
        configuration.journalMode = .wal
        let queue = try DatabaseQueue.openForSetUp(
            at: directory.appendingPathComponent("audit.db"), configuration: configuration)
        let (epoch, nextSeq) = try queue.write { db -> (String, Int64) in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS sluice_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS rejections(seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, record TEXT NOT NULL);
                    CREATE INDEX IF NOT EXISTS rejections_by_actor ON rejections(json_extract(record, '$.actor'), seq);
                    CREATE TABLE IF NOT EXISTS reads(seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, record TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS lifecycle(seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, record TEXT NOT NULL);
                    """
            )
            let epoch = try StreamEpoch.begin(in: db, mode: synchronous)
            let last = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM rejections") ?? 0
            return (epoch, last + 1)
        }
        nextReadSeq = try queue.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM reads") ?? 0 } + 1
        nextLifecycleSeq =
            try queue.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM lifecycle") ?? 0 } + 1
        try synchronous.apply(to: queue)
        self.queue = queue
        self.epoch = epoch
        self.logger = logger
        self.nextSeq = nextSeq
    }

    var lastSeq: Int64 { nextSeq - 1 }
    var lastLifecycleSeq: Int64 { nextLifecycleSeq - 1 }

    var workerName: String { "rejection-auditor" }

    /// Writes what arrived together in one transaction (at most 1,000 refusals and 10,000 read
    /// records at a time).
    func serve(inbox: ZMQSocket, notices: ZMQSocket) throws(ZMQError) {
        var stopping = false
        while !stopping, let first = try inbox.receiveObject(Message.self) {
            var records: [[String: JSONValue]] = []
            var reads: [ReadRecord] = []
            var lifecycle: [[String: JSONValue]] = []
            var next: Message? = first
            while let message = next {
                switch message {
                case .record(let record): records.append(record)
                case .reads(let answered): reads += answered
                case .lifecycle(let changes): lifecycle += changes
                case .stop: stopping = true
                }
                next =
                    records.count < 1000 && reads.count < 10_000 && !stopping
                    ? try inbox.receiveObject(Message.self, dontWait: true) : nil
            }
            if !reads.isEmpty { write(reads) }
            if !lifecycle.isEmpty {
                try notices.sendObject(BrokerNotice.rejectionsStored(handled: 0, events: writeLifecycle(lifecycle)))
            }
            if !records.isEmpty {
                try notices.sendObject(BrokerNotice.rejectionsStored(handled: records.count, events: write(records)))
                pruneRejections()
            }
        }
        markCleanStop()
    }

    /// Everything published is on disk now: the next start may keep the epoch.
    private func markCleanStop() {
        do {
            try queue.write { db in try StreamEpoch.markCleanStop(in: db) }
            try queue.writeWithoutTransaction { db in _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        } catch {
            logger.warning("could not record a clean stop of audit.db", metadata: ["error": "\(error)"])
        }
    }

    /// Retention without losing history: once more than `retention` records plus a chunk are kept,
    /// the oldest beyond `retention` are archived (``AuditArchive``, durably, before anything is
    /// deleted), then deleted in a transaction that records the archive's newest segment in
    /// `sluice_meta`, as a compaction does for a database's log. Chunks of a tenth of the retention
    /// (at most 10,000) keep segments few and the work off most batches.
    private func pruneRejections() {
        let cutoff = nextSeq - 1 - retention
        let chunk = max(1, min(10_000, retention / 10))
        do {
            let archivedThrough = try archive.newest()?.header.lastSeq ?? 0
            let firstKept = try queue.read { db in try Int64.fetchOne(db, sql: "SELECT min(seq) FROM rejections") } ?? nextSeq
            let from = max(archivedThrough + 1, firstKept)
            guard cutoff - from + 1 >= chunk else { return }
            var newest: (header: AuditArchive.Header, sha256: String)?
            var start = from
            while start <= cutoff {
                let through = min(cutoff, start + CommandWriter.eventsPerArchiveSegment - 1)
                let events = try queue.read { db in
                    try Row.fetchAll(
                        db, sql: "SELECT seq, record FROM rejections WHERE seq >= ? AND seq <= ? ORDER BY seq",
                        arguments: [start, through]
                    ).map { row -> (seq: Int64, body: [UInt8]) in (row[0], Array((row[1] as String).utf8)) }
                }
                guard !events.isEmpty else { break }
                newest = try archive.append(events: events, epoch: epoch)
                start = through + 1
            }
            guard let newest else { return }
            try queue.write { db in
                try db.execute(sql: "DELETE FROM rejections WHERE seq <= ?", arguments: [newest.header.lastSeq])
                for (key, value) in [
                    ("audit_archived_seq", String(newest.header.lastSeq)), ("audit_archive_sha256", newest.sha256),
                ] {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO sluice_meta(key, value) VALUES (?, ?)", arguments: [key, value])
                }
            }
        } catch {
            // Nothing is deleted unarchived: the table keeps growing past its retention until
            // archiving works again.
            logger.error("could not archive refusals beyond the retention", metadata: ["error": "\(error)"])
        }
    }

    /// The read audit: one row per answered query, in one transaction per batch, the newest
    /// `retention` kept. A failure loses the batch's records (logged), never a query's answer.
    private func write(_ reads: [ReadRecord]) {
        let firstSeq = nextReadSeq
        do {
            try queue.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO reads(seq, ts, record) VALUES (?, ?, ?)")
                for read in reads {
                    let timestamp = Clock.text(milliseconds: read.admittedMs)
                    insert.bind(nextReadSeq, at: 1)
                    insert.bind(timestamp, at: 2)
                    insert.bind(read.encoded(seq: nextReadSeq, timestamp: timestamp), asTextAt: 3)
                    try insert.runDirect(in: db)
                    nextReadSeq += 1
                }
                try db.execute(sql: "DELETE FROM reads WHERE seq <= ?", arguments: [nextReadSeq - 1 - retention])
            }
        } catch {
            nextReadSeq = firstSeq
            logger.error("could not record reads", metadata: ["count": "\(reads.count)", "error": "\(error)"])
        }
    }

    /// Stores lifecycle records (durably, with the broker's synchronous level) and returns their
    /// `audit.lifecycle` events.
    private func writeLifecycle(_ records: [[String: JSONValue]]) -> [EncodedEvent] {
        let firstSeq = nextLifecycleSeq
        do {
            return try queue.write { db in
                var events: [EncodedEvent] = []
                for var record in records {
                    record["seq"] = .int(nextLifecycleSeq)
                    try db.execute(
                        sql: "INSERT INTO lifecycle(seq, ts, record) VALUES (?, ?, ?)",
                        arguments: [
                            nextLifecycleSeq, record["ts"]?.stringValue ?? "", JSONValue.object(record).canonicalString,
                        ])
                    events.append(
                        EncodedEvent(
                            Event(
                                topic: Topic.lifecycle, stream: RejectionAuditor.lifecycleStream, seq: nextLifecycleSeq,
                                epoch: epoch, body: .object(record))))
                    nextLifecycleSeq += 1
                }
                return events
            }
        } catch {
            nextLifecycleSeq = firstSeq
            logger.error("could not record lifecycle changes", metadata: ["error": "\(error)"])
            return []
        }
    }

    private func write(_ records: [[String: JSONValue]]) -> [EncodedEvent] {
        let firstSeq = nextSeq
        do {
            return try queue.write { db in
                var events: [EncodedEvent] = []
                for var record in records {
                    record["seq"] = .int(nextSeq)
                    try db.execute(
                        sql: "INSERT INTO rejections(seq, ts, record) VALUES (?, ?, ?)",
                        arguments: [nextSeq, record["ts"]?.stringValue ?? "", JSONValue.object(record).canonicalString]
                    )
                    events.append(
                        EncodedEvent(
                            Event(
                                topic: Topic.rejected, stream: RejectionAuditor.stream, seq: nextSeq, epoch: epoch,
                                body: .object(record))))
                    nextSeq += 1
                }
                return events
            }
        } catch {
            nextSeq = firstSeq
            logger.error("could not record rejections", metadata: ["count": "\(records.count)", "error": "\(error)"])
            return []
        }
    }
}
