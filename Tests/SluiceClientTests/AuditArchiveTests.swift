import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// Compaction removes log rows; the audit trail they made must outlive them: archived in
/// segments chained by hash, exported whole, and verified.
@Suite(.timeLimit(.minutes(2))) struct AuditArchiveTests {
    func create(_ client: SluiceClient, _ range: Range<Int>) async throws {
        for index in range {
            try await client.send("task.create@v1", ["title": .string("a\(index)")], idempotencyKey: "a\(index)")
        }
    }

    /// Every audit record of `tasks` through SYNC, in seq order.
    func trail(_ client: SluiceClient, from first: Int64 = 1) async throws -> [Event] {
        var events: [Event] = []
        var from = first
        while true {
            let (page, end) = try await client.sync(topic: "audit.tasks", fromSeq: from)
            events += page
            if end.complete { return events }
            from = end.lastSeq + 1
        }
    }

    @Test func compactionArchivesTheTrailAndExportGivesItWhole() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory)
        let data = broker.broker.configuration.dataDirectory
        let client = try broker.client()
        defer { client.close() }
        try await create(client, 0..<30)
        let published = try await trail(client)
        #expect(published.map(\.seq) == Array(1...30))

        _ = try await client.compact(db: "tasks", keep: 10)
        try await create(client, 30..<40)
        let beforeSecond = try await trail(client, from: 21)
        _ = try await client.compact(db: "tasks", keep: 0)
        do {
            _ = try await client.sync(topic: "audit.tasks", fromSeq: 1)
            Issue.record("expected compacted")
        } catch let error as WireError {
            #expect(error.code == .compacted)
        }

        // Two segments, chained, anchored in tasks.db.
        let archive = AuditArchive(databaseAt: data.appendingPathComponent("tasks.db"))
        #expect(archive.segmentFiles().map(\.lastPathComponent) == ["segment-000001.jsonl", "segment-000002.jsonl"])
        let reports = try AuditTrail.verify(dataDirectory: data)
        let tasks = try #require(reports.first { $0.stream == "tasks" })
        #expect(tasks.problems == [])
        #expect(tasks.archived == 1...40)
        #expect(tasks.segments == 2)

        // The archived records are the events as they were published, byte for byte.
        let archived = try archive.records()
        #expect(archived.map(\.seq) == Array(1...40))
        let expected = published.filter { $0.seq <= 20 } + beforeSecond.filter { $0.seq > 20 }
        #expect(archived.map { $0.event.canonicalString } == expected.map { $0.body.canonicalString })

        // Export: the archive, then what the log holds, in one gap-free run of seqs.
        try await create(client, 40..<45)
        let export = try Fixtures.run("sluice", ["audit", "export", "--db", "tasks", "--data-dir", data.path])
        #expect(export.status == 0, "\(export.output)")
        let lines = export.output.split(separator: "\n").map { try? JSONValue(parsing: String($0)) }
        #expect(lines.map { $0?["seq"]?.intValue } == Array(1...45).map(Optional.some))
        #expect(lines.allSatisfy { $0?["topic"] == "audit.tasks" && $0?["event"]?["status"] == "ok" })
        #expect(lines.first??["event"]?["idempotency_key"] == "a0")
        #expect(lines.last??["event"]?["idempotency_key"] == "a44")

        let verify = try Fixtures.run("sluice", ["audit", "verify", "--data-dir", data.path])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("ok tasks: seqs 1…40 archived in 2 segment(s); log holds 41…45"))
    }

    @Test func verifyFindsAChangedOrMissingSegment() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory)
        let data = broker.broker.configuration.dataDirectory
        let client = try broker.client()
        defer { client.close() }
        try await create(client, 0..<10)
        _ = try await client.compact(db: "tasks", keep: 5)
        try await create(client, 10..<20)
        _ = try await client.compact(db: "tasks", keep: 5)
        let archive = AuditArchive(databaseAt: data.appendingPathComponent("tasks.db"))
        let segments = archive.segmentFiles()
        #expect(segments.count == 2)
        #expect(try AuditTrail.verify(dataDirectory: data).flatMap(\.problems) == [])

        // One record of the first segment changed: the second segment's link no longer matches.
        let original = try Data(contentsOf: segments[0])
        let changed = String(decoding: original, as: UTF8.self).replacingOccurrences(
            of: #""idempotency_key":"a1""#, with: #""idempotency_key":"zz""#)
        #expect(changed != String(decoding: original, as: UTF8.self))
        try Data(changed.utf8).write(to: segments[0])
        var problems = try AuditTrail.verify(dataDirectory: data).flatMap(\.problems)
        #expect(problems.contains { $0.contains("segment-000002.jsonl") && $0.contains("prev_sha256") }, "\(problems)")
        let cli = try Fixtures.run("sluice", ["audit", "verify", "--data-dir", data.path])
        #expect(cli.status == 1)
        #expect(cli.output.contains("FAILED tasks"))
        try original.write(to: segments[0])

        // The newest segment changed: only the database's anchor can tell.
        let newest = try Data(contentsOf: segments[1])
        try Data(String(decoding: newest, as: UTF8.self).replacingOccurrences(of: "a11", with: "zzz").utf8)
            .write(to: segments[1])
        problems = try AuditTrail.verify(dataDirectory: data).flatMap(\.problems)
        #expect(problems.contains { $0.contains("not the one the database recorded") }, "\(problems)")
        try newest.write(to: segments[1])

        // A segment removed: a hole in the chain and in the seqs.
        try FileManager.default.removeItem(at: segments[0])
        problems = try AuditTrail.verify(dataDirectory: data).flatMap(\.problems)
        #expect(problems.contains { $0.contains("the archive starts at seq 6, not 1") }, "\(problems)")
        #expect(problems.contains { $0.contains("prev_sha256") }, "\(problems)")
    }

    /// Refused requests beyond audit.rejected's retention are archived before they are deleted.
    @Test func refusalsBeyondTheRetentionAreArchivedNotLost() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory) { $0.rejectionRetention = 20 }
        let data = broker.broker.configuration.dataDirectory
        let client = try broker.client()
        defer { client.close() }
        let rejected = try broker.subscriber([Topic.rejected])
        for index in 0..<40 {
            _ = try? await client.send("task.nope@v1", ["n": .int(Int64(index))], idempotencyKey: "n\(index)")
        }
        // The 40th refusal is published after its commit, and the auditor prunes after each batch
        // before it takes the next: one more refusal's event proves the prune after the 40th ran
        // (the one after that refusal's own batch may still be running).
        var seen = 0
        while seen < 40, let frames = try rejected.receive() {
            if (try? Event(frames: frames))?.topic == Topic.rejected { seen += 1 }
        }
        _ = try? await client.send("task.nope@v1", ["n": 40], idempotencyKey: "n40")
        while let frames = try rejected.receive() {
            if (try? Event(frames: frames))?.body["idempotency_key"] == "n40" { break }
        }

        let reports = try AuditTrail.verify(dataDirectory: data)
        let refusals = try #require(reports.first { $0.stream == "rejected" })
        #expect(refusals.problems == [], "\(refusals.problems)")
        let archived = try #require(refusals.archived)
        #expect(archived.lowerBound == 1 && archived.upperBound >= 20, "\(archived)")
        // No seq between the archive and the table (they may overlap while a prune is between
        // writing its segment and deleting the rows it holds).
        #expect(refusals.logFirst <= archived.upperBound + 1, "\(refusals.logFirst) after \(archived)")

        let export = try Fixtures.run("sluice", ["audit", "export", "--db", "rejected", "--data-dir", data.path])
        #expect(export.status == 0, "\(export.output)")
        let lines = export.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
        #expect(lines.map { $0["seq"]?.intValue } == Array(1...41).map(Optional.some), "\(export.output)")
        #expect(lines.allSatisfy { $0["topic"] == "audit.rejected" && $0["event"]?["code"] == "unknown_contract" })
    }
}
