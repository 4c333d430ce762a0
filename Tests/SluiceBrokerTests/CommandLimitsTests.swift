import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// A plugin's `max_in_flight` (its manifest's limits): commands admitted and not yet answered
/// count against it; one past it is refused with `rate_limited`, and an answered one frees its slot.
@Suite(.timeLimit(.minutes(2))) struct CommandLimitsTests {
    @Test func commandsPastMaxInFlightAreRateLimitedUntilOneIsAnswered() async throws {
        let broker = try QueryLimitsTests.broker(limits: ["max_in_flight": 2])
        defer { broker.stop() }
        let reader = try QueryLimitsTests.reader(broker)
        defer { reader.close() }
        let file = broker.broker.configuration.dataDirectory.appendingPathComponent(
            broker.broker.registry.file(of: "reader"))
        // Holding the database's write lock keeps the writer from committing: what is admitted
        // stays in flight until the lock goes.
        #expect(FileManager.default.fileExists(atPath: file.path))
        var waitsForTheLock = Configuration()
        waitsForTheLock.busyMode = .timeout(60)  // the broker's writer may hold it a moment (a checkpoint)
        let holder = try DatabaseQueue(path: file.path, configuration: waitsForTheLock)
        let release = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        defer { release.signal() }  // (a failing test must not leave the lock held)
        // On a thread of its own (it blocks until released), not on the tasks' pool.
        try await withCheckedThrowingContinuation { (held: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                var holding = false
                do {
                    try holder.writeWithoutTransaction { db in
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        holding = true
                        held.resume()
                        release.wait()
                        try db.execute(sql: "ROLLBACK")
                    }
                } catch {
                    if !holding { held.resume(throwing: error) }
                }
                released.signal()
            }
        }

        // The three commands go out back to back from a thread of its own (a blocking connection,
        // not tasks on the cooperative pool, which other tests keep busy): the refusal comes back
        // within the writer's busy timeout, however loaded the machine.
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: "reader"))
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "reader", token: token))
        configuration.maxAttempts = 1
        let outcomes = try await onDedicatedThread { [configuration] () -> [String] in
            let connection = try SluiceConnection(configuration: configuration)
            defer { connection.close() }
            let ids = try (0..<3).map { index in
                try connection.submit("reader.item.create@v1", ["title": .string("item \(index)")])
            }
            func outcome(_ reply: SluiceConnection.Reply?) -> String {
                switch reply?.outcome {
                case .success: "ok"
                case .failure(let error) where error.code == .rateLimited && error.details["limit"] == "max_in_flight":
                    "rate_limited"
                case .failure(let error): "\(error.code)"
                case nil: "no reply"
                }
            }
            // Nothing can commit yet: the first answer is the refusal of the third command.
            let first = try connection.nextReply(timeout: .seconds(60))
            let refusedThird = first?.requestID == ids[2]
            release.signal()
            let rest = try (0..<2).map { _ in outcome(try connection.nextReply(timeout: .seconds(60))) }
            return [outcome(first) + (refusedThird ? "" : " (not the third)")] + rest
        }
        released.wait()
        #expect(outcomes == ["rate_limited", "ok", "ok"])
        // Both answered: their slots are free again.
        _ = try await reader.send("reader.item.create@v1", ["title": "after"])
        _ = try await reader.send("reader.item.create@v1", ["title": "after, again"])
    }
}
