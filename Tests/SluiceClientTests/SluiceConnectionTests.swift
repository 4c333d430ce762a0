import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// The blocking, one-thread connection: the same answers as the async client, on the caller's thread.
@Suite(.timeLimit(.minutes(2))) struct SluiceConnectionTests {
    func connection(_ broker: RunningBroker) throws -> SluiceConnection {
        try SluiceConnection(endpoint: broker.commandEndpoint, credentials: broker.operatorCredentials())
    }

    @Test func sendAnswersAfterTheCommitAndARetryIsADuplicate() throws {
        let broker = try RunningBroker()
        let connection = try connection(broker)
        defer { connection.close() }
        let ack = try connection.send("task.create@v1", ["title": "blocking"], idempotencyKey: "blocking-1")
        #expect(!ack.duplicate)
        #expect(ack.db == "tasks")
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks WHERE title = 'blocking'") == 1)
        let again = try connection.send("task.create@v1", ["title": "blocking"], idempotencyKey: "blocking-1")
        #expect(again.duplicate)
        #expect(again.seq == ack.seq)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 1)
        #expect(try connection.status(idempotencyKey: "blocking-1") == .committed(again))
        #expect(try connection.status(idempotencyKey: "nobody") == .unknown)
    }

    @Test func refusalsAreTypedAndWriteNothing() throws {
        let broker = try RunningBroker()
        let connection = try connection(broker)
        defer { connection.close() }
        do {
            try connection.send("task.create@v1", ["title": ""])
            Issue.record("expected validation_failed")
        } catch let error as WireError {
            #expect(error.code == .validationFailed)
            #expect(error.details["violations"]?.arrayValue?.first?["pointer"] == "/title")
        }
        do {
            try connection.send("task.create@v9", ["title": "x"])
            Issue.record("expected unknown_contract")
        } catch let error as WireError {
            #expect(error.code == .unknownContract)
        }
        _ = try connection.send("task.create@v1", ["title": "first"], idempotencyKey: "same")
        do {
            try connection.send("task.create@v1", ["title": "second"], idempotencyKey: "same")
            Issue.record("expected idempotency_mismatch")
        } catch let error as WireError {
            #expect(error.code == .idempotencyMismatch)
        }
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 1)
    }

    /// A window of commands in flight from one thread: each answered once, under its own id, and
    /// a `send` in between keeps the others' answers for `nextReply`.
    @Test func submittedCommandsAreEachAnsweredOnce() throws {
        let broker = try RunningBroker()
        let connection = try connection(broker)
        defer { connection.close() }
        var waiting: [String: Int] = [:]
        var answered: [Int: Acknowledgement] = [:]
        var next = 0
        func submit() throws {
            let id = try connection.submit("task.create@v1", ["title": .string("w\(next)")], idempotencyKey: "w-\(next)")
            waiting[id] = next
            next += 1
        }
        for _ in 0..<32 { try submit() }
        let inBetween = try connection.send("task.create@v1", ["title": "in between"], idempotencyKey: "between")
        while answered.count < 300 {
            let reply = try #require(try connection.nextReply(timeout: .seconds(30)))
            let command = waiting.removeValue(forKey: reply.requestID)
            let n = try #require(command, "one answer per command")
            answered[n] = try reply.outcome.get()
            if next < 300 { try submit() }
        }
        #expect(waiting.isEmpty)
        #expect(try connection.nextReply(timeout: .milliseconds(50)) == nil)
        let seqs = Set(answered.values.map(\.seq) + [inBetween.seq])
        #expect(seqs == Set(1...301))
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 301)
    }

    @Test func refusedCredentialsFailAtOnceWithTheReason() throws {
        let broker = try RunningBroker()
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "local", token: "wrong"))
        configuration.attemptTimeout = .seconds(60)
        let connection = try SluiceConnection(configuration: configuration)
        defer { connection.close() }
        do {
            try connection.send("task.create@v1", ["title": "x"])
            Issue.record("expected credentials_refused")
        } catch let error as SluiceClientError {
            #expect(error.code == .credentialsRefused)
            #expect(error.message.contains("tokens/local.token"), "\(error)")
        }
    }

    /// Sent before any broker listens, the command is sent again (same bytes, same key) until one
    /// answers, and runs once.
    @Test func retriesWithTheSameKeyUntilTheBrokerAppears() async throws {
        let directory = TemporaryDirectory()
        let token = try TokenStore(dataDirectory: directory.path("data")).ensureToken(for: "local")
        var configuration = ClientConfiguration(
            endpoint: "ipc://" + directory.path("data/sluice.sock").path,
            credentials: ClientCredentials(name: "local", token: token))
        // Up to 80 s of attempts: a broker starting on a loaded machine (the whole suite at once)
        // has taken over 10.
        configuration.attemptTimeout = .milliseconds(200)
        configuration.maxAttempts = 400
        let (retries, retried) = AsyncStream<Int>.makeStream()
        configuration.onRetry = { _, attempt in retried.yield(attempt) }
        let (outcome, answered) = AsyncStream<Result<(Acknowledgement, SluiceConnection.Reply?), any Error>>.makeStream()
        let sender = Thread { [configuration] in
            let result = Result { () throws -> (Acknowledgement, SluiceConnection.Reply?) in
                let connection = try SluiceConnection(configuration: configuration)
                defer { connection.close() }
                let ack = try connection.send("task.create@v1", ["title": "patient"], idempotencyKey: "patient-1")
                // The earlier attempts were queued too and are answered as well: those answers are
                // not handed out as if they belonged to a submitted command.
                return (ack, try connection.nextReply(timeout: .milliseconds(500)))
            }
            answered.yield(result)
            answered.finish()
        }
        sender.start()
        for await attempt in retries where attempt >= 3 { break }
        let broker = try RunningBroker(directory: directory)
        var results = outcome.makeAsyncIterator()
        let (ack, late) = try #require(await results.next()).get()
        #expect(ack.seq == 1)
        #expect(late == nil)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 1)
    }
}
