import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A request's `traceparent` and `tenant` travel into the command log and the audit events (live
/// and replayed alike), and into the record of a refusal, so one action can be followed.
@Suite(.timeLimit(.minutes(2))) struct CallerContextTests {
    static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func theContextIsInTheLogAndInTheLiveAndReplayedAuditEvent() async throws {
        let broker = try RunningBroker()
        defer { broker.stop() }
        let audit = try broker.subscriber(["audit.tasks", "hb"])
        while let frames = try audit.receive(), frames.first != frame("hb") {}
        let client = try broker.client()
        defer { client.close() }
        let context = CallerContext(traceparent: Self.traceparent, tenant: "acme")
        let ack = try await client.send("task.create@v1", ["title": "traced"], idempotencyKey: "c-1", context: context)

        var live: [[UInt8]]?
        while live == nil, let frames = try audit.receive() {
            if frames.first == frame("audit.tasks") { live = frames }
        }
        let event = try Event(frames: try #require(live))
        #expect(event.body["traceparent"] == .string(Self.traceparent))
        #expect(event.body["tenant"] == "acme")

        let logged = try await broker.open().read { db in
            try String.fetchOne(db, sql: "SELECT context FROM sluice_log WHERE seq = ?", arguments: [ack.seq])
        }
        #expect(logged == #"{"tenant":"acme","traceparent":"\#(Self.traceparent)"}"#)

        // SYNC rebuilds the event from the log row: the same bytes as the live one.
        let socket = try broker.socket(.dealer)
        try socket.send(
            [[]] + WireMessage(kind: .sync, header: ["request_id": "s"], body: ["topic": "audit.tasks", "from_seq": 1])
                .frames())
        let replay = try #require(try socket.receiveMessage())
        #expect(replay.kind == .replay)
        #expect(replay.body["event"] == event.body)

        // A command without a context has none, in the log and the event.
        let plain = try await client.send("task.create@v1", ["title": "untraced"], idempotencyKey: "c-2")
        let none = try await broker.open().read { db in
            try String.fetchOne(db, sql: "SELECT context FROM sluice_log WHERE seq = ?", arguments: [plain.seq])
        }
        #expect(none == nil)
    }

    @Test(arguments: [
        ("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"),  // uppercase
        ("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"),  // zero trace id
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),  // zero parent id
        ("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),  // version ff
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),  // version 00 is exact
        ("tenant", String(repeating: "t", count: 129)),
        ("tenant", "line\nbreak"),
    ])
    func aMalformedContextIsRefusedAndChangesNothing(_ field: String, _ value: String) throws {
        let broker = try RunningBroker()
        defer { broker.stop() }
        let socket = try broker.socket(.dealer)
        var header: [String: JSONValue] = ["request_id": "r", "contract": "task.create@v1", "idempotency_key": "k"]
        header[field] = .string(value)
        let reply = try #require(
            try socket.request(WireMessage(kind: .command, header: header, body: ["title": "no"])))
        #expect(reply.kind == .error)
        #expect(reply.body["code"] == "invalid_message")
        #expect(reply.body["details"]?["field"] == .string(field))
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    @Test func aLaterVersionOfTraceparentIsAccepted() {
        #expect(CallerContext.isTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more"))
        #expect(CallerContext.isTraceparent(Self.traceparent))
    }

    @Test func aRefusedRequestIsAuditedWithItsContext() async throws {
        let broker = try RunningBroker()
        defer { broker.stop() }
        let watcher = try broker.rejectionWatcher()
        let client = try broker.client()
        defer { client.close() }
        await #expect(throws: WireError.self) {
            try await client.send(
                "task.create@v1", ["title": 42], context: CallerContext(traceparent: Self.traceparent, tenant: "acme"))
        }
        var record: JSONValue?
        while record == nil, let frames = try watcher.receive() {
            let event = try Event(frames: frames)
            if event.topic == Topic.rejected { record = event.body }
        }
        #expect(record?["code"] == "validation_failed")
        #expect(record?["tenant"] == "acme")
        #expect(record?["traceparent"] == .string(Self.traceparent))
    }

    /// A log written before the `context` column existed gains it at the next start; its rows
    /// still replay through SYNC.
    @Test func aLogFromBeforeTheContextColumnIsUpgradedAtStart() async throws {
        let directory = TemporaryDirectory()
        let first = try RunningBroker(directory: directory)
        let client = try first.client()
        let old = try await client.send("task.create@v1", ["title": "old"], idempotencyKey: "old")
        client.close()
        first.stop()
        let queue = try DatabaseQueue(path: directory.path("data/tasks.db").path)
        try await queue.write { db in try db.execute(sql: "ALTER TABLE sluice_log DROP COLUMN context") }
        try queue.close()

        let second = try RunningBroker(directory: directory)
        defer { second.stop() }
        let columns = try await second.open().read { db in try db.columns(in: "sluice_log").map(\.name) }
        #expect(columns.contains("context"))
        let socket = try second.socket(.dealer)
        try socket.send(
            [[]] + WireMessage(kind: .sync, header: ["request_id": "s"], body: ["topic": "audit.tasks", "from_seq": 1])
                .frames())
        let replay = try #require(try socket.receiveMessage())
        #expect(replay.body["seq"] == .int(old.seq))
        #expect(replay.body["event"]?["tenant"] == nil)
    }
}
