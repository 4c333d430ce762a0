import Foundation
import GRDB
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// Tests about real `sluice serve` processes: SIGKILL in the middle of a load, and SIGTERM.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ProcessTests {
    /// What a load sent and what came back, with a way to wait for the count of ACKs.
    actor LoadRecord {
        var attempted: [String: JSONValue] = [:]
        var acknowledged: [String: Acknowledgement] = [:]
        private var waiter: (count: Int, continuation: CheckedContinuation<Void, Never>)?

        func attempt(_ key: String, _ payload: JSONValue) { attempted[key] = payload }
        func acknowledge(_ key: String, _ ack: Acknowledgement) {
            acknowledged[key] = ack
            if let waiter, acknowledged.count >= waiter.count { release() }
        }
        /// A writer stopped (its broker died): nobody should wait for ACKs that will not come.
        func writerStopped() { release() }

        /// Returns once `count` commands are acknowledged (or a writer stopped).
        func waitForAcknowledgements(_ count: Int) async {
            guard acknowledged.count < count else { return }
            await withCheckedContinuation { waiter = (count, $0) }
        }

        private func release() {
            waiter?.continuation.resume()
            waiter = nil
        }
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

    /// Sends every (key, payload) with up to 64 in flight; returns the ACKs.
    func resend(_ commands: [String: JSONValue], to broker: BrokerProcess) async throws -> [String: Acknowledgement] {
        let retry = try client(broker, attemptTimeout: .seconds(10), maxAttempts: 3)
        defer { retry.close() }
        return try await Self.send(commands, as: "task.create@v1", through: retry)
    }

    /// Sends every (key, payload) to `contract` through `client`, up to 64 in flight; the ACKs.
    static func send(_ commands: [String: JSONValue], as contract: String, through client: SluiceClient) async throws
        -> [String: Acknowledgement]
    {
        try await withThrowingTaskGroup(of: (String, Acknowledgement).self) { group in
            var pending = commands.makeIterator()
            func add() {
                guard let (key, payload) = pending.next() else { return }
                group.addTask { (key, try await client.send(contract, payload, idempotencyKey: key)) }
            }
            for _ in 0..<64 { add() }
            var acks: [String: Acknowledgement] = [:]
            while let (key, ack) = try await group.next() {
                acks[key] = ack
                add()
            }
            return acks
        }
    }

    /// The crash loop: SIGKILL under pipelined load from four writers at a random moment, restart,
    /// resend everything the round attempted with the same keys — `SLUICE_CRASH_ROUNDS` rounds
    /// (10 here, 100 with `make soak`). After every restart each ACKed key is present exactly once
    /// with its ACKed seq, the log is gap-free and the file passes its integrity check.
    @Test func sigkillMidLoadLosesNoAcknowledgedWriteAndRetriesCreateNoDuplicates() async throws {
        let rounds = Int(ProcessInfo.processInfo.environment["SLUICE_CRASH_ROUNDS"] ?? "") ?? 10
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        var everything: [String: JSONValue] = [:]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<rounds {
            let broker = try BrokerProcess(dataDirectory: data)
            try await waitUntilServing(broker)
            let record = LoadRecord()
            let load = try client(broker, attemptTimeout: .seconds(10))
            let writers = (0..<4).map { writer in
                Task {
                    for index in 0..<100_000 {
                        let key = "r\(round)-w\(writer)-\(index)"
                        let payload: JSONValue = ["title": .string("crash \(key)"), "ref": .string(key)]
                        await record.attempt(key, payload)
                        guard let ack = try? await load.send("task.create@v1", payload, idempotencyKey: key) else {
                            break
                        }
                        await record.acknowledge(key, ack)
                    }
                    await record.writerStopped()
                }
            }
            // Kill the broker without warning after a random number of ACKs.
            let killAfter = Int.random(in: 100...800, using: &generator)
            await record.waitForAcknowledgements(killAfter)
            broker.kill9()
            load.close()  // what was in flight fails at once ("closed"), acknowledged or not
            for writer in writers { await writer.value }
            let acknowledged = await record.acknowledged
            let attempted = await record.attempted
            #expect(acknowledged.count >= killAfter, "round \(round)")

            let restarted = try BrokerProcess(dataDirectory: data)
            try await waitUntilServing(restarted)
            let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
            #expect(try TasksDatabase.integrity(db) == "ok", "round \(round)")
            let present = try await db.read { db in
                try Dictionary(
                    grouping: String.fetchAll(db, sql: "SELECT ref FROM tasks WHERE ref LIKE ?", arguments: ["r\(round)-%"]),
                    by: { $0 })
            }
            for key in acknowledged.keys {
                #expect(present[key]?.count == 1, "round \(round): acknowledged \(key) must be present exactly once")
            }
            let seqs = try TasksDatabase.logSeqs(db)
            #expect(seqs == Array(1...Int64(seqs.count)), "round \(round): the log has no gaps")

            // Resend everything the round attempted, acknowledged or not, with its key.
            let resent = try await resend(attempted, to: restarted)
            for (key, original) in acknowledged {
                #expect(resent[key]?.duplicate == true && resent[key]?.seq == original.seq, "round \(round): \(key)")
            }
            everything.merge(attempted) { first, _ in first }
            #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == everything.count, "round \(round)")
            #expect(try TasksDatabase.count(db, "SELECT count(DISTINCT ref) FROM tasks") == everything.count)
            #expect(try TasksDatabase.logSeqs(db) == Array(1...Int64(everything.count)))
            #expect(restarted.terminate() == 0)
        }
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
        // Replies until the broker has exited and nothing more comes: a quiet moment while it
        // still runs (a loaded machine) is not the end of its answers.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard let reply = try socket.receiveMessage() else {
                if broker.process.isRunning { continue }
                break
            }
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
