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

        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<3 {
                group.addTask {
                    do {
                        _ = try await reader.send("reader.item.create@v1", ["title": .string("item \(index)")])
                        return "ok"
                    } catch let error as WireError where error.code == .rateLimited {
                        #expect(error.details["limit"] == "max_in_flight")
                        return "rate_limited"
                    }
                }
            }
            // Nothing can commit yet: the first answer is the refusal of the third command.
            var outcomes = [try await group.next()!]
            release.signal()
            while let outcome = try await group.next() { outcomes.append(outcome) }
            return outcomes
        }
        released.wait()
        #expect(outcomes == ["rate_limited", "ok", "ok"])
        // Both answered: their slots are free again.
        _ = try await reader.send("reader.item.create@v1", ["title": "after"])
        _ = try await reader.send("reader.item.create@v1", ["title": "after, again"])
    }
}
