import Foundation
import GRDB
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// Tests about real `sluice serve` processes: SIGKILL in the middle of a load, and SIGTERM.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ProcessTests {
    actor LoadRecord {
        var attempted: [String: JSONValue] = [:]
        var acknowledged: [String: Acknowledgement] = [:]
        func attempt(_ key: String, _ payload: JSONValue) { attempted[key] = payload }
        func acknowledge(_ key: String, _ ack: Acknowledgement) { acknowledged[key] = ack }
    }

    func client(_ broker: BrokerProcess, attemptTimeout: Duration = .seconds(2), maxAttempts: Int = 1) throws
        -> SluiceClient
    {
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: try .operator(dataDirectory: broker.dataDirectory)
        )
        configuration.attemptTimeout = attemptTimeout
        configuration.maxAttempts = maxAttempts
        return try SluiceClient(configuration: configuration)
    }

    func waitUntilServing(_ broker: BrokerProcess) async throws {
        let probe = try client(broker, attemptTimeout: .milliseconds(200), maxAttempts: 100)
        defer { probe.close() }
        try await probe.ping()
    }

    @Test func sigkillMidLoadLosesNoAcknowledgedWriteAndRetriesCreateNoDuplicates() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let first = try BrokerProcess(dataDirectory: data)
        try await waitUntilServing(first)

        let record = LoadRecord()
        let load = try client(first)
        let writers = (0..<4).map { writer in
            Task {
                for index in 0..<100_000 {
                    let key = "w\(writer)-\(index)"
                    let payload: JSONValue = ["title": .string("crash \(key)"), "ref": .string(key)]
                    await record.attempt(key, payload)
                    guard let ack = try? await load.send("task.create@v1", payload, idempotencyKey: key) else { return }
                    await record.acknowledge(key, ack)
                }
            }
        }
        // Let the load run, then kill the broker without warning.
        while await record.acknowledged.count < 300 { try await Task.sleep(for: .milliseconds(20)) }
        first.kill9()
        for writer in writers { await writer.value }
        load.close()

        let acknowledged = await record.acknowledged
        let attempted = await record.attempted
        #expect(acknowledged.count >= 300)

        let second = try BrokerProcess(dataDirectory: data)
        try await waitUntilServing(second)
        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        #expect(try TasksDatabase.integrity(db) == "ok")
        for (key, ack) in acknowledged {
            let row = try await db.read { db in
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM tasks WHERE ref = ?", arguments: [key])
            }
            #expect(row == 1, "acknowledged \(key) (seq \(ack.seq)) must be present exactly once")
        }
        let seqs = try TasksDatabase.logSeqs(db)
        #expect(seqs == Array(1...Int64(seqs.count)), "the log has no gaps")
        #expect(seqs.count >= acknowledged.count)

        // Resend everything that was attempted, acknowledged or not, with its key.
        let retry = try client(second, attemptTimeout: .seconds(10), maxAttempts: 3)
        defer { retry.close() }
        for (key, payload) in attempted {
            let ack = try await retry.send("task.create@v1", payload, idempotencyKey: key)
            if let original = acknowledged[key] {
                #expect(ack.duplicate)
                #expect(ack.seq == original.seq)
            }
        }
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == attempted.count)
        #expect(try TasksDatabase.count(db, "SELECT count(DISTINCT ref) FROM tasks") == attempted.count)
        #expect(try TasksDatabase.logSeqs(db) == Array(1...Int64(attempted.count)))
        #expect(second.terminate() == 0)
    }

    @Test func sigtermCommitsAndAnswersEverythingAdmitted() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        try await waitUntilServing(broker)

        let socket = try broker.socket(.dealer, receiveTimeoutMs: 3000)
        let total = 3000
        for index in 0..<total {
            let request = CommandRequest(
                requestID: "r\(index)", contract: ContractID("task.create@v1")!, idempotencyKey: "t\(index)",
                payload: ["title": "term", "ref": .string("t\(index)")]
            )
            try socket.send([[]] + request.message().frames())
        }
        kill(broker.process.processIdentifier, SIGTERM)
        var acknowledged: Set<String> = []
        var refused = 0
        while let reply = try socket.receiveMessage() {
            if reply.kind == .ack {
                acknowledged.insert(reply.requestID ?? "")
            } else {
                #expect(WireError(json: reply.body).code == .overloaded)
                refused += 1
            }
        }
        #expect(broker.waitForExit(limit: 20), "the broker did not stop")
        #expect(broker.process.terminationStatus == 0, "\(broker.output)")
        #expect(!acknowledged.isEmpty)

        // Every committed row was answered before the broker exited, and every answer is a row.
        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        let refs = try await db.read { db in try String.fetchAll(db, sql: "SELECT ref FROM tasks") }
        #expect(Set(refs.map { "r" + $0.dropFirst() }) == acknowledged)
        #expect(acknowledged.count + refused <= total)
    }

    @Test func requestsDuringShutdownNeverWedgeTheBroker() async throws {
        let directory = TemporaryDirectory()
        let broker = try BrokerProcess(dataDirectory: directory.path("data"))
        try await waitUntilServing(broker)
        // Keep refused requests coming (each is audited) while the broker shuts down, past the
        // point where its audit thread has stopped.
        let socket = try broker.socket(.dealer, receiveTimeoutMs: 0)
        let bad = CommandRequest(requestID: "x", contract: ContractID("no.such@v1")!, idempotencyKey: "k", payload: [:])
        kill(broker.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(3)
        while broker.process.isRunning && Date() < deadline {
            // Never block here: once the broker is gone a DEALER has no peer to send to.
            try? socket.socket.send([[]] + bad.message().frames(), dontWait: true)
            _ = try? socket.receive()
        }
        let exited = broker.waitForExit(limit: 20)
        if !exited { broker.kill9() }
        #expect(exited, "the broker must exit although requests keep arriving")
        #expect(broker.process.terminationStatus == 0, "\(broker.output)")
    }

    @Test func secondBrokerOnTheSameDataDirectoryIsRefused() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let first = try BrokerProcess(dataDirectory: data)
        try await waitUntilServing(first)
        let second = try BrokerProcess(dataDirectory: data)
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus != 0)
        #expect(second.output.contains("another broker is serving"))
        try await waitUntilServing(first)
        #expect(first.terminate() == 0)
    }
}
