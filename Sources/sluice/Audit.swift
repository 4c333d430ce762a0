import ArgumentParser
import Foundation
import SluiceBroker
import SluiceClient
import SluiceWire

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit trail: print it, export it with its archive, verify the archive's chain.",
        discussion: """
            Every answered read (QUERY, STATUS, SYNC) is recorded too (`reads`). \
            Compaction removes old log rows; their audit events are archived first, in segments chained by hash \
            (<data-dir>/audit-archive/<db>/, docs/operations.md). `show` prints what the broker still holds, \
            `export` the whole trail (archive, then the live log), `verify` checks the archive.
            """,
        subcommands: [AuditShow.self, AuditExport.self, AuditVerify.self, AuditReads.self],
        defaultSubcommand: AuditShow.self
    )
}

struct AuditShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print audit records: commands run (audit.<db>) and requests refused (audit.rejected).",
        discussion: """
            Reads the stored audit streams through the broker (SYNC), so it sees every record, redacted as the \
            contracts say. With --follow it keeps printing new records, gap-free. Each line is \
            <topic> <stream>#<seq> <record JSON>.
            """
    )

    @Option(name: .long, help: "Only this database's commands (default: every database, and rejections).")
    var db: String?

    @Option(name: .long, help: "Only records of this actor (a plugin id, or `local`).")
    var plugin: String?

    @Option(name: .long, help: "Only records at or after this time (RFC 3339, e.g. 2026-11-23T12:00:00Z).")
    var since: String?

    @Option(name: .long, help: "Only records with this status: ok, failed or rejected.")
    var status: String?

    @Flag(name: .long, help: "Keep printing new records (one database, or rejections with --db rejected).")
    var follow = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = try connection.makeClient(events: follow)
        defer { client.close() }
        let topics: [String]
        if let db {
            topics = [db == "rejected" ? Topic.rejected : Topic.audit(db)]
        } else {
            let databases = try await client.hello()["databases"]?.arrayValue?.compactMap(\.stringValue) ?? []
            topics = databases.map(Topic.audit) + [Topic.rejected]
        }
        if follow {
            guard topics.count == 1 else { throw ValidationError("--follow needs --db (a database, or `rejected`)") }
            for try await event in client.subscribe(topic: topics[0], fromSeq: 1) { show(event) }
            return
        }
        for topic in topics {
            var from: Int64 = 1
            while true {
                let (events, end) = try await client.sync(topic: topic, fromSeq: from)
                events.forEach(show)
                if end.complete { break }
                from = end.lastSeq + 1
            }
        }
    }

    private func show(_ event: Event) {
        if let plugin, event.body["actor"]?.stringValue != plugin { return }
        if let status, event.body["status"]?.stringValue != status { return }
        // RFC 3339 UTC timestamps of one format compare correctly as strings.
        if let since, let ts = event.body["ts"]?.stringValue, ts < since { return }
        print("\(event.topic) \(event.stream)#\(event.seq) \(event.body.canonicalString)")
        fflush(nil)
    }
}

struct AuditExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print every audit record (commands run, requests refused), archived ones included, as JSON lines.",
        discussion: """
            Each line is {"epoch","event","seq","stream","topic"}, in seq order per database: first the records \
            archived by compactions (read from <data-dir>/audit-archive), then the ones the log still holds \
            (read through the broker, SYNC). Redacted as the contracts say, as when they were published.
            """
    )

    @Option(
        name: .long,
        help: "Only this database, or `rejected` for refused requests (default: every database, then rejected).")
    var db: String?

    @Option(name: .long, help: "Only records at or after this time (RFC 3339, e.g. 2026-11-23T12:00:00Z).")
    var since: String?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let dataDirectory = URL(fileURLWithPath: connection.dataDir)
        let archives = Dictionary(
            AuditArchive.all(in: dataDirectory).map { ($0.stream, $0) }, uniquingKeysWith: { first, _ in first })
        let client = try connection.makeClient(events: false)
        defer { client.close() }
        let live = try await client.hello()["databases"]?.arrayValue?.compactMap(\.stringValue) ?? []
        // Databases, and `rejected` (audit.rejected: refused requests, archived beyond retention).
        let streams = db.map { [$0] } ?? Set(live).union(archives.keys).union(["rejected"]).sorted()
        for stream in streams {
            var next: Int64 = 1
            for record in try archives[stream]?.records() ?? [] {
                show(record.json, ts: record.event["ts"]?.stringValue)
                next = record.seq + 1
            }
            guard live.contains(stream) || stream == "rejected" else { continue }
            let topic = stream == "rejected" ? Topic.rejected : Topic.audit(stream)
            while true {
                let page: (events: [Event], end: SyncEnd)
                do {
                    page = try await client.sync(topic: topic, fromSeq: next)
                } catch let error as WireError where error.code == .compacted {
                    // Seqs neither archived nor logged (compacted before archiving existed): go on.
                    guard let first = error.details["first_seq"]?.intValue, first > next else { throw error }
                    next = first
                    continue
                }
                for event in page.events {
                    let record = AuditArchive.Record(
                        topic: event.topic, stream: event.stream, seq: event.seq, epoch: event.epoch, event: event.body)
                    show(record.json, ts: event.body["ts"]?.stringValue)
                }
                if page.end.complete { break }
                next = page.end.lastSeq + 1
            }
        }
    }

    private func show(_ record: JSONValue, ts: String?) {
        // RFC 3339 UTC timestamps of one format compare correctly as strings.
        if let since, let ts, ts < since { return }
        print(record.canonicalString)
    }
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit archive: its hash chain, its anchor in each database, no seq missing.",
        discussion: """
            Reads the files of --data-dir (a broker may be serving). Exit status 0 when every database's trail \
            is whole, 1 when a problem is found (each named with its file).
            """
    )

    @Option(name: .long, help: "The data directory.")
    var dataDir: String = "data"

    @Flag(name: .long, help: "One JSON object per database instead of lines of text.")
    var json = false

    func run() throws {
        let reports = try AuditTrail.verify(dataDirectory: URL(fileURLWithPath: dataDir))
        for report in reports {
            if json {
                print(report.json.canonicalString)
                continue
            }
            let archived = report.archived.map { "seqs \($0.lowerBound)…\($0.upperBound) archived in \(report.segments) segment(s)" }
                ?? "nothing archived"
            let log = report.logFirst <= report.logLast ? "log holds \(report.logFirst)…\(report.logLast)" : "log empty"
            print("\(report.problems.isEmpty ? "ok" : "FAILED") \(report.stream): \(archived); \(log)")
            for problem in report.problems { print("  \(problem)") }
        }
        if reports.contains(where: { !$0.problems.isEmpty }) { throw ExitCode(1) }
    }
}

struct AuditReads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reads",
        abstract: "Print the read audit: one record per answered QUERY, STATUS or SYNC, as JSON lines.",
        discussion: """
            Each record: {"actor","cache"?,"contract"?,"db"?,"kind","latency_ms","params_sha256","request_id",\
            "seq","status","topic"?,"ts"} (+ "tenant", "traceparent" when the caller gave them); never the rows or \
            events. `kind` is query, status or sync; for a query `cache` says where the answer came from: cache, \
            executed, coalesced (an identical query in flight), parked (it waited for a projection) or refused. \
            Read from <data-dir>/audit.db (a broker may be serving); the newest 1,000,000 records are kept. A query \
            contract opts out with "audit": {"reads": false}.
            """
    )

    @Option(name: .long, help: "Only records of this actor (a plugin id, or `local`).")
    var plugin: String?

    @Option(name: .long, help: "Only records of this database.")
    var db: String?

    @Option(name: .long, help: "Only records at or after this time (RFC 3339, e.g. 2026-11-23T12:00:00Z).")
    var since: String?

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        for record in try ReadAudit.records(
            dataDirectory: URL(fileURLWithPath: dataDir), actor: plugin, database: db, since: since)
        {
            print(record.canonicalString)
        }
    }
}
