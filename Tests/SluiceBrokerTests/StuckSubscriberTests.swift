import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A subscriber that never reads pins at most the event high-water mark (10,000 events by
/// default) in the broker, and does not slow writers: 14,000 commands (28,000 events) still all commit.
@Suite(.serialized, .timeLimit(.minutes(3))) struct StuckSubscriberTests {
    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func load(_ client: SluiceClient, _ range: Range<Int>) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = range.lowerBound
            func add() {
                guard next < range.upperBound else { return }
                let index = next
                next += 1
                group.addTask {
                    _ = try await client.send(
                        "task.create@v1", ["title": .string("stuck \(index) " + String(repeating: "s", count: 100))],
                        idempotencyKey: "stuck-\(index)")
                }
            }
            for _ in 0..<64 { add() }
            while try await group.next() != nil { add() }
        }
    }

    @Test func aSubscriberThatNeverReadsPinsABoundedQueueAndSlowsNoWriter() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")
        let stuck = try RawSocket(
            .sub, endpoint: broker.eventEndpoint, credentials: try .operator(dataDirectory: data))
        try stuck.socket.setReceiveHighWaterMark(1)
        try stuck.socket.subscribe("")
        _ = try stuck.receive()  // connected and subscribed (a heartbeat came); then it stops reading

        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: try .operator(dataDirectory: data))
        configuration.attemptTimeout = .seconds(20)
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        try await Self.load(client, 0..<2_000)
        let warm = Self.residentKiB(broker.process.processIdentifier)
        try await Self.load(client, 2_000..<14_000)
        let after = Self.residentKiB(broker.process.processIdentifier)
        try #require(warm > 0 && after > 0)
        // 28,000 events of ~500 bytes: with the old 100,000-event mark they all queued (+14 MiB
        // measured); with 10,000 the queue stops at about 3 MiB.
        #expect(after - warm < 10 * 1024, "RSS grew from \(warm) KiB to \(after) KiB with a stuck subscriber")
        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == 14_000)
    }
}
