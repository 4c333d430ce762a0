import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(2))) struct ClientTests {
    @Test func sendStatusAndEventsFromTheSwiftClient() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        let welcome = try await client.hello()
        #expect(welcome["protocol"] == 1)

        var events = client.events(topic: "").makeAsyncIterator()
        // A heartbeat proves the subscription reached the broker (no slow-joiner loss after it).
        while let event = try await events.next(), event.topic != Topic.heartbeat {}

        let ack = try await client.send("task.create@v1", ["title": "from swift"], idempotencyKey: "swift-1")
        #expect(!ack.duplicate)
        var invalidation: Event?
        while let event = try await events.next() {
            if event.topic == "inval.tasks" {
                invalidation = event
                break
            }
        }
        #expect(invalidation?.seq == ack.seq)
        #expect(invalidation?.body["tables"]?["tasks"]?.arrayValue?.count == 1)

        let again = try await client.send("task.create@v1", ["title": "from swift"], idempotencyKey: "swift-1")
        #expect(again.duplicate)
        #expect(again.seq == ack.seq)
        #expect(try await client.status(idempotencyKey: "swift-1") == .committed(again))
        #expect(try await client.status(idempotencyKey: "nobody") == .unknown)
    }

    /// Without a key of their own, both clients send time-ordered ones (UUIDv7), which the broker's
    /// ledger index takes at its right edge: the audit records show them, in the order sent.
    @Test func defaultIdempotencyKeysAreTimeOrderedUUIDs() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        let before = Date()
        try await client.send("task.create@v1", ["title": "first"])
        let blocking = try SluiceConnection(endpoint: broker.commandEndpoint, credentials: broker.operatorCredentials())
        defer { blocking.close() }
        try blocking.send("task.create@v1", ["title": "second"])
        let after = Date()
        let (events, _) = try await client.sync(topic: "audit.tasks", fromSeq: 1)
        let keys = events.compactMap { $0.body["idempotency_key"]?.stringValue }
        #expect(keys.count == 2)
        var stamps: [Double] = []
        for key in keys {
            let characters = Array(key)
            #expect(characters.count == 36 && characters[14] == "7" && "89ab".contains(characters[19]), "\(key)")
            let milliseconds = Double(UInt64(String(characters[0..<8]) + String(characters[9..<13]), radix: 16) ?? 0)
            #expect(milliseconds >= (before.timeIntervalSince1970 * 1000).rounded(.down), "\(key)")
            #expect(milliseconds <= (after.timeIntervalSince1970 * 1000).rounded(.up), "\(key)")
            stamps.append(milliseconds)
        }
        #expect(stamps == stamps.sorted(), "the second key's millisecond is not before the first's")
    }

    @Test func brokerErrorsArriveAsWireErrors() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        await #expect(throws: WireError.self) { try await client.send("task.create@v9", ["title": "x"]) }
        do {
            try await client.send("task.create@v1", ["title": ""])
            Issue.record("expected validation_failed")
        } catch let error as WireError {
            #expect(error.code == .validationFailed)
            #expect(error.details["violations"]?.arrayValue?.first?["pointer"] == "/title")
            #expect(error.details["violations"]?.arrayValue?.first?["rule"] == "minLength")
        }
    }

    @Test func eightClientsTimesAThousandConcurrentCommands() async throws {
        let broker = try RunningBroker()
        let clients = try (0..<8).map { _ in try broker.client(attemptTimeout: .seconds(30)) }
        defer { for client in clients { client.close() } }
        let acks = try await withThrowingTaskGroup(of: [Acknowledgement].self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    try await withThrowingTaskGroup(of: Acknowledgement.self) { inner in
                        for command in 0..<1000 {
                            inner.addTask {
                                try await client.send(
                                    "task.create@v1",
                                    ["title": .string("c\(index)-\(command)"), "ref": .string("c\(index)-\(command)")],
                                    idempotencyKey: "c\(index)-\(command)"
                                )
                            }
                        }
                        return try await inner.reduce(into: []) { $0.append($1) }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(acks.count == 8000)
        #expect(acks.allSatisfy { !$0.duplicate })
        #expect(Set(acks.map(\.seq)) == Set(1...8000))
        let db = try broker.open()
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == 8000)
        #expect(try TasksDatabase.count(db, "SELECT count(DISTINCT ref) FROM tasks") == 8000)
        #expect(try TasksDatabase.logSeqs(db) == Array(1...8000))
    }

    /// Callers send on the DEALER themselves while the socket thread receives on it, woken by
    /// its edge-triggered ZMQ_FD: a reply whose signal a caller's send took in must still be
    /// delivered at once. With a resend deadline beyond the suite's time limit, a missed
    /// reply would hang the test (and a resend would show in `onRetry`).
    @Test func repliesArriveWhileCallersKeepSending() async throws {
        let broker = try RunningBroker()
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: try broker.operatorCredentials())
        configuration.attemptTimeout = .seconds(600)
        let retries = Mutex(0)
        configuration.onRetry = { _, _ in retries.withLock { $0 += 1 } }
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        let acks = try await withThrowingTaskGroup(of: Int.self) { group in
            for chain in 0..<32 {
                group.addTask {
                    // Each chain sends its next command as soon as the last is answered.
                    for command in 0..<150 {
                        let key = "chain\(chain)-\(command)"
                        let ack = try await client.send("task.create@v1", ["title": .string(key)], idempotencyKey: key)
                        #expect(!ack.duplicate)
                    }
                    return 150
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(acks == 32 * 150)
        #expect(retries.withLock { $0 } == 0)
        #expect(try TasksDatabase.count(try broker.open(), "SELECT count(*) FROM tasks") == 32 * 150)
    }

    @Test func timeoutRetriesWithTheSameKeyUntilTheBrokerAppears() async throws {
        let directory = TemporaryDirectory()
        // The operator token is made before the broker, which will find and keep it.
        let token = try TokenStore(dataDirectory: directory.path("data")).ensureToken(for: "local")
        var configuration = ClientConfiguration(
            endpoint: "ipc://" + directory.path("data/sluice.sock").path,
            credentials: ClientCredentials(name: "local", token: token)
        )
        configuration.attemptTimeout = .milliseconds(200)
        configuration.maxAttempts = 50
        // The client reports each retry: the broker appears once three attempts went unanswered.
        let (retries, retried) = AsyncStream<Int>.makeStream()
        configuration.onRetry = { _, attempt in retried.yield(attempt) }
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        async let ack = client.send("task.create@v1", ["title": "patient"], idempotencyKey: "patient-1")
        for await attempt in retries where attempt >= 3 { break }
        let broker = try RunningBroker(directory: directory)
        let result = try await ack
        #expect(result.seq == 1)
        // However many attempts were queued and delivered, the command ran once.
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 1)
    }

    @Test func timeoutSurfacesAsTimedOut() async throws {
        let directory = TemporaryDirectory()
        var configuration = ClientConfiguration(endpoint: "ipc://" + directory.path("nothing.sock").path)
        configuration.attemptTimeout = .milliseconds(50)
        configuration.maxAttempts = 2
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        do {
            try await client.send("task.create@v1", ["title": "x"])
            Issue.record("expected a timeout")
        } catch let error as SluiceClientError {
            #expect(error.code == .timedOut)
        }
    }

    @Test func closingFailsWaitingCalls() async throws {
        let directory = TemporaryDirectory()
        let client = try SluiceClient(endpoint: "ipc://" + directory.path("nothing.sock").path)
        // Whether the ping is queued before or after close, it fails rather than wait forever.
        let pending = Task { try await client.ping() }
        client.close()
        await #expect(throws: SluiceClientError.self) { try await pending.value }
    }
}
