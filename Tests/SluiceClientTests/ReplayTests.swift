import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

@Suite(.timeLimit(.minutes(3))) struct ReplayTests {
    /// 10,000 varied commands: creates (every 50th reusing a ref, so it fails), completions and
    /// deletes of earlier tasks.
    func variedLoad(_ client: SluiceClient) async throws {
        var ids: [String] = []
        for round in 0..<40 {
            let created = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<200 {
                    let n = round * 200 + index
                    let ref = n % 50 == 49 ? "ref-\(n - 1)" : "ref-\(n)"
                    group.addTask {
                        do {
                            let ack = try await client.send(
                                "task.create@v1",
                                ["title": .string("task \(n)"), "ref": .string(ref), "priority": .int(Int64(n % 6))],
                                idempotencyKey: "create-\(n)"
                            )
                            return ack.result["rows"]?.arrayValue?.first?["id"]?.stringValue
                        } catch let error as WireError where error.code == .constraintViolation {
                            return nil
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
            }
            ids += created.sorted()
            let completes = ids.suffix(60).prefix(30)
            let deletes = ids.suffix(60).suffix(20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in completes {
                    group.addTask {
                        try await client.send("task.complete@v1", ["id": .string(id)], idempotencyKey: "complete-\(id)")
                    }
                }
                for id in deletes {
                    group.addTask {
                        try await client.send("task.delete@v1", ["id": .string(id)], idempotencyKey: "delete-\(id)")
                    }
                }
                try await group.waitForAll()
            }
            ids.removeLast(20)
        }
    }

    @Test func replayRebuildsAnIdenticalDatabaseAndVerifyCatchesAChange() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory)
        let client = try broker.client()
        defer { client.close() }
        try await variedLoad(client)

        let live = broker.broker.configuration.dataDirectory.appendingPathComponent("tasks.db")
        let seqs = try TasksDatabase.logSeqs(try broker.open())
        #expect(seqs.count == 10_000)
        #expect(
            try TasksDatabase.count(try broker.open(), "SELECT count(*) FROM sluice_log WHERE status = 'failed'") > 100)

        // `:_id` is drawn only for contracts that name it: each created task's id is its log row's
        // `generated_id`; completions and deletions (no `:_id`) log an empty one.
        let generated = try await broker.open().read { db in
            try Row.fetchAll(db, sql: "SELECT contract, status, generated_id, result FROM sluice_log")
        }
        for row in generated {
            let contract: String = row["contract"]
            let generatedID: String = row["generated_id"]
            if contract == "task.create@v1" {
                #expect(UUID(uuidString: generatedID) != nil, "\(generatedID)")
                if row["status"] as String == "ok" {
                    let result = try JSONValue(parsing: row["result"] as String)
                    #expect(result["rows"]?.arrayValue?.first?["id"]?.stringValue == generatedID)
                }
            } else {
                #expect(generatedID == "", "\(contract): \(generatedID)")
            }
        }
        #expect(Set(generated.map { $0["contract"] as String }).count == 3)

        let target = directory.path("rebuilt/tasks.db")
        let registry = try ContractRegistry(directories: [Fixtures.tasksContracts])
        let report = try LogReplayer(registry: registry).replay(database: live, into: target, verify: true)
        #expect(report.replayed == 10_000)
        #expect(report.differences == [])

        // The rebuilt log matches the original too, idempotency entries included (each log row is
        // its command's entry).
        let rebuilt = try TasksDatabase.open(target)
        #expect(try TasksDatabase.logSeqs(rebuilt) == seqs)
        let original = try broker.open()
        let ledger = "SELECT actor, idempotency_key, payload_hash, seq, status, result, expires_ms FROM sluice_log ORDER BY seq"
        let rebuiltLedger = try await rebuilt.read { try Row.fetchAll($0, sql: ledger) }
        let originalLedger = try await original.read { try Row.fetchAll($0, sql: ledger) }
        #expect(rebuiltLedger.count == 10_000)
        #expect(rebuiltLedger == originalLedger)

        // Change one row of the rebuilt file: verification must notice.
        let writable = try DatabaseQueue(path: target.path)
        try await writable.write { db in
            try db.execute(sql: "UPDATE tasks SET title = 'tampered' WHERE rowid = (SELECT min(rowid) FROM tasks)")
        }
        let differences = try LogReplayer.compare(live: live, rebuilt: target)
        #expect(differences.count == 1)
        #expect(differences.first?.contains("table tasks") == true)

        // A difference only after a NUL inside a text is a difference too (GRDB's rows stop at
        // the NUL, so such rows used to compare equal): the live title, then a NUL and more.
        let firstTitle = "SELECT title FROM tasks WHERE rowid = (SELECT min(rowid) FROM tasks)"
        let liveTitle = try #require(try await original.read { try String.fetchOne($0, sql: firstTitle) })
        try await writable.write { db in
            try db.execute(
                sql: "UPDATE tasks SET title = ? || char(0) || 'x' WHERE rowid = (SELECT min(rowid) FROM tasks)",
                arguments: [liveTitle])
        }
        let afterNUL = try LogReplayer.compare(live: live, rebuilt: target)
        #expect(afterNUL.count == 1, "\(afterNUL)")
        #expect(afterNUL.first?.contains("table tasks, row 1") == true)
    }

    @Test func replayToASeqStopsThere() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory)
        let client = try broker.client()
        defer { client.close() }
        for index in 0..<20 { try await client.send("task.create@v1", ["title": .string("t\(index)")]) }
        let target = directory.path("partial/tasks.db")
        let report = try LogReplayer(registry: try ContractRegistry(directories: [Fixtures.tasksContracts])).replay(
            database: broker.broker.configuration.dataDirectory.appendingPathComponent("tasks.db"), into: target,
            toSeq: 12,
            verify: false
        )
        #expect(report.replayed == 12)
        #expect(try TasksDatabase.count(try TasksDatabase.open(target), "SELECT count(*) FROM tasks") == 12)
    }

    /// Batches of 1,000 run on the replay's writer thread while the next are read: a rerun that
    /// disagrees with its log row stops the replay there, names the seq, and no later batch runs.
    @Test func aLogRowTheRerunDisagreesWithStopsTheReplayThere() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory)
        let client = try broker.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<50 {
                group.addTask {
                    for n in stride(from: lane, to: 3_500, by: 50) {
                        try await client.send("task.create@v1", ["title": .string("t\(n)")], idempotencyKey: "k\(n)")
                    }
                }
            }
            try await group.waitForAll()
        }
        client.close()
        broker.stop()
        let live = broker.broker.configuration.dataDirectory.appendingPathComponent("tasks.db")
        try await DatabaseQueue(path: live.path).write { db in
            try db.execute(sql: #"UPDATE sluice_log SET result = '{"tampered":true}' WHERE seq = 1700"#)
        }

        let target = directory.path("rebuilt/tasks.db")
        var reported: [Int] = []
        #expect {
            try LogReplayer(registry: try ContractRegistry(directories: [Fixtures.tasksContracts])).replay(
                database: live, into: target, verify: false, progress: { replayed, _ in reported.append(replayed) })
        } throws: { error in
            "\(error)".contains("seq 1700") && "\(error)".contains("tampered")
        }
        #expect(reported == [1_000], "the batch holding seq 1700 is not reported as replayed")
        // Closed before replay returned (not later, by the runner's thread: opening it then met
        // "database is locked" while that thread's last close checkpointed the WAL away).
        #expect(!FileManager.default.fileExists(atPath: target.path + "-wal"), "the rebuilt file is closed")
        #expect(try TasksDatabase.count(try TasksDatabase.open(target), "SELECT count(*) FROM tasks") == 2_000)
    }
}

@Suite(.timeLimit(.minutes(2))) struct LedgerRetentionTests {
    @Test func anExpiredKeyRunsAgainAndReplayAgrees() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory) { $0.ledgerRetention = .seconds(1) }
        let client = try broker.client()
        defer { client.close() }
        let first = try await client.send("task.create@v1", ["title": "again"], idempotencyKey: "short-lived")
        #expect(!first.duplicate)

        // Resend until the key has expired: every answer before is the stored one (a duplicate,
        // same seq); the first after is the command running again, with the next seq.
        var late = first
        var resends = 0
        while late.duplicate || late.seq == first.seq {
            late = try await client.send("task.create@v1", ["title": "again"], idempotencyKey: "short-lived")
            if late.duplicate { #expect(late.seq == first.seq) }
            resends += 1
        }
        #expect(resends >= 1)
        #expect(late.seq == first.seq + 1)
        let tasks = try broker.open()
        #expect(try TasksDatabase.count(tasks, "SELECT count(*) FROM tasks") == 2)
        // Each run is its own log row, and the newer one is the key's entry now.
        #expect(try TasksDatabase.count(tasks, "SELECT count(*) FROM sluice_log WHERE idempotency_key = 'short-lived'") == 2)

        // Expiry is judged against admission times, so the replay makes the same decisions.
        let report = try LogReplayer(registry: try ContractRegistry(directories: [Fixtures.tasksContracts])).replay(
            database: broker.broker.configuration.dataDirectory.appendingPathComponent("tasks.db"),
            into: directory.path("rebuilt/tasks.db"), verify: true
        )
        #expect(report.replayed == 2)
        #expect(report.differences == [])
    }

    /// `sluice_ledger` holds the entries a compaction moved out of the log while their keys were
    /// in force (``CompactionTests``); once expired they go, also while commands keep coming (the
    /// writer is never idle then). The entries are written into the file before the broker starts,
    /// already expired: whether a compaction's entries are still in force when it runs depends on
    /// how fast the machine is, which a test must not.
    @Test func expiredEntriesOfCompactedRowsAreRemoved() async throws {
        let broker = try brokerWithLedgerEntries(500, keyPrefix: "old", expiresMs: 1)
        let client = try broker.client()
        defer { client.close() }
        try await sendUntilTheLedgerIsEmpty(broker, client)
        // The key of an entry that expired runs its command again.
        let reused = try await client.send("task.create@v1", ["title": "x"], idempotencyKey: "old-7")
        #expect(!reused.duplicate)
    }

    /// A batch sweeps only once the earliest entry of `sluice_ledger` is due (the writer remembers
    /// when that is): entries still in force when the broker starts are removed after they expire,
    /// by the batches alone (the idle round is put out of reach). (On a machine so slow that they
    /// expired before the first batch, that batch removes them: the test cannot fail by timing.)
    @Test func entriesThatExpireWhileCommandsFlowAreRemovedOnceDue() async throws {
        let broker = try brokerWithLedgerEntries(
            300, keyPrefix: "soon", expiresMs: Int64(Date().timeIntervalSince1970 * 1000) + 2000
        ) { $0.idleCheckpointMs = 600_000 }
        let client = try broker.client()
        defer { client.close() }
        try await sendUntilTheLedgerIsEmpty(broker, client)
        let reused = try await client.send("task.create@v1", ["title": "x"], idempotencyKey: "soon-7")
        #expect(!reused.duplicate)
    }

    /// A broker whose `tasks` database starts with `count` entries in `sluice_ledger` (keys
    /// `<keyPrefix>-<n>` of `local`, expiring at `expiresMs`), written into the file before it starts.
    private func brokerWithLedgerEntries(
        _ count: Int, keyPrefix: String, expiresMs: Int64, configure: (inout BrokerConfiguration) -> Void = { _ in }
    ) throws -> RunningBroker {
        let directory = TemporaryDirectory()
        try RunningBroker(directory: directory).stop()
        let file = directory.path("data").appendingPathComponent("tasks.db")
        try DatabaseQueue(path: file.path).write { db in
            for index in 0..<count {
                try db.execute(
                    sql: """
                        INSERT INTO sluice_ledger(actor, idempotency_key, payload_hash, seq, status, result, committed_at,
                            expires_ms) VALUES ('local', ?, 'hash', ?, 'ok', '{}', '2026-01-01T00:00:00.000Z', ?)
                        """, arguments: ["\(keyPrefix)-\(index)", index + 1, expiresMs])
            }
        }
        return try RunningBroker(directory: directory, configure: configure)
    }

    /// Sends commands, 64 at a time, until `sluice_ledger` is empty (the suite's time limit ends a
    /// broker that never empties it).
    private func sendUntilTheLedgerIsEmpty(_ broker: RunningBroker, _ client: SluiceClient) async throws {
        var sent = 0
        while try TasksDatabase.count(try broker.open(), "SELECT count(*) FROM sluice_ledger") > 0 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in sent..<(sent + 64) {
                    group.addTask { _ = try await client.send("task.create@v1", ["title": .string("s\(index)")]) }
                }
                try await group.waitForAll()
            }
            sent += 64
        }
    }
}
