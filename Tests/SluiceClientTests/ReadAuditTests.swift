import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// Every answered query leaves a record (who, what, a hash of the parameters, status, latency,
/// where the answer came from), never the rows; a contract can opt out.
@Suite(.timeLimit(.minutes(2))) struct ReadAuditTests {
    @Test func everyAnsweredQueryIsRecordedWithoutItsRows() async throws {
        let directory = TemporaryDirectory()
        let set = directory.path("reads-set")
        try FileManager.default.createDirectory(
            at: set.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        // A query contract whose reads are not recorded.
        try #"""
        {"name": "task.quietcount", "version": "v1", "kind": "query", "database": "tasks",
         "statements": ["SELECT count(*) AS n FROM tasks"], "audit": {"reads": false}}
        """#.write(
            to: set.appendingPathComponent("contracts/task.quietcount.v1.json"), atomically: true, encoding: .utf8)
        let broker = try RunningBroker(directory: directory) { $0.contractDirectories.append(set) }
        let data = broker.broker.configuration.dataDirectory
        let client = try broker.client()
        defer { client.close() }
        try await client.send("task.create@v1", ["title": "secret title"], idempotencyKey: "k1")
        _ = try await client.query("task.list@v1", ["status": "open"])
        _ = try await client.query("task.list@v1", ["status": "open"])  // from the cache
        _ = try await client.query("task.quietcount@v1")
        do {
            _ = try await client.query("task.list@v1", ["status": "nope"])
            Issue.record("an invalid parameter is refused")
        } catch let error as WireError {
            #expect(error.code == .validationFailed)
        }

        _ = try await client.status(idempotencyKey: "k1", db: "tasks")
        _ = try await client.sync(topic: "audit.tasks", fromSeq: 1)

        // The auditor writes a pass's reads before the refusals that came after them: once the
        // refusal is published on audit.rejected, the reads are on disk.
        let rejected = try broker.subscriber([Topic.rejected])
        _ = try? await client.send("task.nope@v1", [:])
        while let frames = try rejected.receive() {
            if (try? Event(frames: frames))?.body["contract"] == "task.nope@v1" { break }
        }

        let output = try Fixtures.run("sluice", ["audit", "reads", "--data-dir", data.path])
        #expect(output.status == 0, "\(output.output)")
        let all = output.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
        #expect(all.map { $0["kind"] } == ["query", "query", "status", "sync"], "\(output.output)")
        #expect(all.map { $0["seq"] } == [1, 2, 3, 4])
        #expect(all.allSatisfy { $0["status"] == "ok" && $0["actor"] == "local" && $0["db"] == "tasks" })
        #expect(all.allSatisfy { ($0["latency_ms"]?.doubleValue ?? -1) >= 0 && $0["ts"]?.stringValue != nil })
        #expect(all[3]["topic"] == "audit.tasks")
        // Queries: two answered task.list reads (the opted-out count is absent; the refused one is
        // on audit.rejected).
        let records = all.filter { $0["kind"] == "query" }
        #expect(records.map { $0["contract"] } == ["task.list@v1", "task.list@v1"])
        #expect(records.map { $0["cache"] } == ["executed", "cache"])
        let hash = SHA256.hexDigest(JSONValue.object(["status": "open"]).canonicalBytes())
        #expect(records.allSatisfy { $0["params_sha256"]?.stringValue == hash })
        #expect(!output.output.contains("secret title"), "never the rows")

        let filtered = try Fixtures.run("sluice", ["audit", "reads", "--plugin", "alpha", "--data-dir", data.path])
        #expect(filtered.status == 0 && filtered.output.isEmpty, "\(filtered.output)")
    }
}
