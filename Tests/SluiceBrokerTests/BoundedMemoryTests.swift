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

    @Test func audit_rejectedKeepsItsNewestRecordsOnly() async throws {
        let broker = try RunningBroker { $0.rejectionRetention = 3 }
        let client = try broker.client()
        defer { client.close() }
        for index in 0..<5 {
            await #expect(throws: WireError.self) { try await client.send("nothing.here@v1", ["n": .int(Int64(index))]) }
        }
        // Refusals are stored by the auditor thread: wait (with round trips) until the fifth is.
        var end = try await client.sync(topic: Topic.rejected, fromSeq: 3).end
        while end.headSeq < 5 { end = try await client.sync(topic: Topic.rejected, fromSeq: 3).end }
        let kept = try await client.sync(topic: Topic.rejected, fromSeq: 3)
        #expect(kept.events.map(\.seq) == [3, 4, 5])
        do {
            _ = try await client.sync(topic: Topic.rejected, fromSeq: 1)
            Issue.record("seqs 1 and 2 were deleted: expected compacted")
        } catch let error as WireError {
            #expect(error.code == .compacted)
            #expect(error.details["first_seq"] == 3)
        }
    }

    /// While the auditor is behind, further refusals are counted, not queued: nothing is lost,
    /// every refusal is on audit.rejected, alone or in an aggregate record with its count.
    @Test func refusalsBeyondTheAuditBacklogAreRecordedInAggregate() throws {
        let broker = try RunningBroker { $0.maxRejectionBacklog = 2 }
        let watcher = try broker.rejectionWatcher()
        let socket = try broker.socket(.dealer)
        for index in 0..<300 {
            try socket.send([[], frame("SLU1"), frame("NOPE"), frame(#"{"request_id":"n\#(index)"}"#), frame("{}")])
        }
        for _ in 0..<300 { _ = try #require(try socket.receiveMessage()) }
        var recorded = 0
        var aggregates = 0
        _ = try watcher.awaitEvents { event in
            guard event.topic == Topic.rejected else { return false }
            let count = Int(event.body["count"]?.intValue ?? 1)
            if count > 1 { aggregates += 1 }
            recorded += count
            return recorded >= 300
        }
        #expect(recorded == 300, "every refusal is recorded, one by one or counted")
        #expect(aggregates > 0, "with a backlog of 2, most were counted rather than queued")
    }
}
