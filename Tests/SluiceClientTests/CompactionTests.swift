import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

@Suite(.timeLimit(.minutes(2))) struct CompactionTests {
    func create(_ client: SluiceClient, _ range: Range<Int>) async throws {
        for index in range {
            try await client.send("task.create@v1", ["title": .string("c\(index)")], idempotencyKey: "c\(index)")
        }
    }

    @Test func compactionBoundsTheLogAndKeepsReplayAndSeqsWhole() async throws {
        let directory = TemporaryDirectory()
        var broker: RunningBroker? = try RunningBroker(directory: directory)
        var client = try broker!.client()
        try await create(client, 0..<300)

        let compacted = try await client.compact(db: "tasks", keep: 100)
        #expect(compacted["snapshot_seq"] == 300)
        #expect(compacted["first_seq"] == 201)
        #expect(compacted["deleted"] == 200)
        #expect(try TasksDatabase.logSeqs(try broker!.open()) == Array(201...300))

        // Catching up from before the kept tail is refused with the oldest seq still there.
        do {
            _ = try await client.sync(topic: "audit.tasks", fromSeq: 1)
            Issue.record("expected compacted")
        } catch let error as WireError {
            #expect(error.code == .compacted)
            #expect(error.details["first_seq"] == 201)
        }
        #expect(try await client.sync(topic: "audit.tasks", fromSeq: 201).events.count == 100)

        // Compact everything away, restart: seqs continue, retries are still recognized.
        // Each log row is its command's idempotency entry: the entries of the rows that go, all
        // still in force, move into sluice_ledger, in the database and in its snapshot.
        _ = try await client.compact(db: "tasks", keep: 0)
        #expect(try TasksDatabase.logSeqs(try broker!.open()).isEmpty)
        let moved = "SELECT count(*) FROM sluice_ledger WHERE idempotency_key = 'c' || (seq - 1) AND status = 'ok'"
        #expect(try TasksDatabase.count(try broker!.open(), moved) == 300)
        let snapshot = broker!.broker.configuration.dataDirectory.appendingPathComponent("snapshots/tasks.db")
        #expect(try TasksDatabase.count(try TasksDatabase.open(snapshot), moved) == 300)
        client.close()
        broker!.stop()
        broker = nil
        broker = try RunningBroker(directory: directory)
        client = try broker!.client()
        defer { client.close() }
        let retry = try await client.send("task.create@v1", ["title": "c5"], idempotencyKey: "c5")
        #expect(retry.duplicate && retry.seq == 6, "the ledger survives compaction")
        do {
            _ = try await client.send("task.create@v1", ["title": "not c5"], idempotencyKey: "c5")
            Issue.record("a compacted key took another payload")
        } catch let error as WireError {
            #expect(error.code == .idempotencyMismatch && error.details["seq"] == 6)
        }
        guard case .committed(let stored) = try await client.status(idempotencyKey: "c250") else {
            Issue.record("STATUS lost a compacted key")
            return
        }
        #expect(stored.seq == 251 && stored.db == "tasks")
        try await create(client, 300..<350)
        #expect(try TasksDatabase.logSeqs(try broker!.open()) == Array(301...350))

        var progress: [(Int, Int64)] = []
        let report = try LogReplayer(registry: try ContractRegistry(directories: [Fixtures.tasksContracts])).replay(
            database: broker!.broker.configuration.dataDirectory.appendingPathComponent("tasks.db"),
            into: directory.path("rebuilt/tasks.db"), verify: true
        ) { replayed, last in progress.append((replayed, last)) }
        #expect(report.replayed == 50, "only the tail after the snapshot runs again")
        #expect(progress.last.map { [$0.0, Int($0.1)] } == [50, 350], "progress ends at what ran, up to the last seq")
        #expect(report.differences == [])
        #expect(
            try TasksDatabase.count(
                try TasksDatabase.open(directory.path("rebuilt/tasks.db")), "SELECT count(*) FROM tasks") == 350)
    }
}
