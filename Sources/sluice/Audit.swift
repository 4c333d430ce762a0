import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
