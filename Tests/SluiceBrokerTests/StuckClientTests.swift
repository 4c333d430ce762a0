import Foundation
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A client that sends and never reads its replies pins a bounded queue in the broker (10,000
/// replies), and does not keep the broker from serving others.
@Suite(.serialized, .timeLimit(.minutes(2))) struct StuckClientTests {
    @Test func aClientThatNeverReadsPinsABoundedQueue() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")
        let pid = broker.process.processIdentifier
        let stuck = try broker.socket(.dealer)
        try stuck.socket.setReceiveHighWaterMark(1)
        try stuck.socket.setSendHighWaterMark(0)
        let ping = [[], frame("SLU1"), frame("PING"), frame("{}"), frame(#"{"padding":"\#(String(repeating: "p", count: 400))"}"#)]
        for _ in 0..<2_000 { try stuck.send(ping) }
        let other = try broker.socket(.dealer)
        func stats() throws -> JSONValue {
            try other.send([[], frame("SLU1"), frame("STATS"), frame(#"{"request_id":"s"}"#), frame("{}")])
            return try #require(try other.receiveMessage()).body
        }
        _ = try stats()  // every ping so far was read and answered
        let warm = StuckSubscriberTests.residentKiB(pid)
        for _ in 0..<40_000 { try stuck.send(ping) }
        // Served meanwhile; the replies the stuck client does not read are dropped and counted.
        var body = try stats()
        while (body["received"]?.intValue ?? 0) < 42_001 { body = try stats() }
        let after = StuckSubscriberTests.residentKiB(pid)
        #expect((body["unroutable_replies"]?.intValue ?? 0) > 0, "\(body)")
        // 40,000 unread replies of ~450 bytes: with the old 100,000-message mark all queued (+68 MiB
        // measured); with 10,000 the growth stops at about 17 MiB (queue, message buffers, heap).
        #expect(after - warm < 32 * 1024, "RSS grew from \(warm) KiB to \(after) KiB with a client that never reads")
    }
}
