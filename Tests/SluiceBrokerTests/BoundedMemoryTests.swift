import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// What can grow is bounded in bytes (or in a bounded count of bounded things), with a typed
/// answer past the bound and recovery after it.
@Suite(.timeLimit(.minutes(2))) struct BoundedMemoryTests {
    @Test func aFloodOfLargeCommandsIsRefusedPastTheQueuedBytesAndTheBrokerRecovers() throws {
        let broker = try RunningBroker { $0.maxQueuedBytesPerDatabase = 4096 }
        let socket = try broker.socket(.dealer)
        let title = String(repeating: "x", count: 200)
        for index in 0..<60 {
            try socket.send(
                [[], frame("SLU1"), frame("COMMAND"),
                 frame(#"{"request_id":"r\#(index)","contract":"task.create@v1","idempotency_key":"big-\#(index)"}"#),
                 frame(#"{"title":"\#(title)","ref":"\#(index)"}"#)])
        }
        var acknowledged = 0
        var overloaded: [WireError] = []
        for _ in 0..<60 {
            let reply = try #require(try socket.receiveMessage())
            if reply.kind == .ack {
                acknowledged += 1
            } else {
                overloaded.append(WireError(json: reply.body))
            }
        }
        #expect(!overloaded.isEmpty, "60 commands of ~300 bytes sent at once exceed 4 KiB of queue")
        for error in overloaded {
            #expect(error.code == .overloaded && error.retryAfterMs != nil)
            #expect((error.details["queued_bytes"]?.intValue ?? 0) > 0)
        }
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == acknowledged)
        // The flood is over: the queue drained, the same refused commands now go through.
        let reply = try #require(
            try socket.request(
                CommandRequest(
                    requestID: "after", contract: ContractID("task.create@v1")!, idempotencyKey: "after",
                    payload: ["title": .string(title)]
                ).message()))
        #expect(reply.kind == .ack)
    }

    @Test func aValidationFailedReplyListsAtMostAHundredViolations() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        var members = (0..<150).map { #""e\#($0)":0"# }
        members.append(#""title":"t""#)
        try socket.send(
            [[], frame("SLU1"), frame("COMMAND"),
             frame(#"{"request_id":"v","contract":"task.create@v1","idempotency_key":"v"}"#),
             frame("{" + members.joined(separator: ",") + "}")])
        let error = WireError(json: try #require(try socket.receiveMessage()).body)
        #expect(error.code == .validationFailed)
        #expect(error.details["violations"]?.arrayValue?.count == 100)
        #expect(error.details["violation_count"] == 150)
    }

    @Test func theQueryCacheHoldsAtMostItsBytes() async throws {
        let broker = try RunningBroker { $0.maxCachedResultBytes = 600 }
        let client = try broker.client()
        defer { client.close() }
        for index in 0..<3 {
            try await client.send("task.create@v1", ["title": .string(String(repeating: "t", count: 150) + "\(index)")])
        }
        // Two different queries (statuses): each result is cached only while the total stays under 600 bytes.
        _ = try await client.query("task.list@v1", [:])
        _ = try await client.query("task.list@v1", ["status": "open"])
        let stats = try #require(try broker.socket(.req).request(WireMessage(kind: .stats, header: ["request_id": "s"])))
        let bytes = try #require(stats.body["cached_result_bytes"]?.intValue)
        #expect(bytes <= 600, "\(stats.body)")
        #expect(stats.body["cached_results"]?.intValue ?? 0 <= 1, "a 3-row result is about 500 bytes: one fits")
    }
}

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
