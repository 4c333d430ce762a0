import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// What a client written from docs/protocol.md relies on: request ids echoed on every ERROR whose
/// header parsed, one rule for request ids on every kind, refusals on audit.rejected, and one
/// idempotency scope for the in-flight table and the ledger.
@Suite(.timeLimit(.minutes(2))) struct ProtocolConformanceTests {
    static let commandHeader = frame(#"{"request_id":"echo-me","contract":"task.create@v1","idempotency_key":"k"}"#)

    /// Bodies the JSON parser must refuse (protocol.md §2), as raw bytes.
    static let unacceptableBodies: [(String, [UInt8])] = [
        ("invalid UTF-8", [0x7B, 0x22, 0x74, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]),
        ("overlong UTF-8", [0x7B, 0x22, 0x74, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D]),
        ("encoded surrogate", [0x7B, 0x22, 0x74, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D]),
        ("duplicate member names", frame(#"{"title":"a","title":"b"}"#)),
        ("NaN", frame(#"{"title":"a","priority":NaN}"#)),
        ("Infinity", frame(#"{"title":"a","priority":Infinity}"#)),
        ("nesting too deep", frame(#"{"title":"a","x":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}")),
        ("trailing bytes", frame(#"{"title":"a"} x"#)),
        ("two JSON values", frame(#"{"title":"a"}{"title":"b"}"#)),
    ]

    @Test(arguments: unacceptableBodies.indices)
    func anErrorAboutTheBodyEchoesTheRequestID(_ index: Int) throws {
        let (label, body) = Self.unacceptableBodies[index]
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        try socket.send([[], frame("SLU1"), frame("COMMAND"), Self.commandHeader, body])
        let reply = try #require(try socket.receiveMessage(), "\(label)")
        #expect(reply.kind == .error, "\(label)")
        #expect(WireError(json: reply.body).code == .invalidMessage, "\(label)")
        #expect(reply.header["request_id"] == "echo-me", "\(label)")
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    @Test func anErrorAboutTheKindOrTheBodySizeEchoesTheRequestID() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        try socket.send([[], frame("SLU1"), frame(String(repeating: "K", count: 40)), Self.commandHeader, frame("{}")])
        let longKind = try #require(try socket.receiveMessage())
        #expect(longKind.kind == .error && longKind.header["request_id"] == "echo-me")
        let large = frame(#"{"title":""# + String(repeating: "x", count: 1_100_000) + #""}"#)
        try socket.send([[], frame("SLU1"), frame("COMMAND"), Self.commandHeader, large])
        let tooLarge = try #require(try socket.receiveMessage())
        #expect(WireError(json: tooLarge.body).code == .payloadTooLarge)
        #expect(tooLarge.header["request_id"] == "echo-me")
    }

    @Test(arguments: ["HELLO", "PING", "STATS"], [#"{"request_id":5}"#, #"{"request_id":""}"#, #"{"request_id":null}"#])
    func aMalformedOptionalRequestIDIsRefused(_ kind: String, _ header: String) throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        try socket.send([[], frame("SLU1"), frame(kind), frame(header), frame("{}")])
        let reply = try #require(try socket.receiveMessage())
        #expect(reply.kind == .error, "\(kind) \(header)")
        #expect(WireError(json: reply.body).code == .invalidMessage)
        #expect(WireError(json: reply.body).details["field"] == "request_id")
        #expect(reply.header["request_id"] == nil, "never echoed empty or altered")
    }

    @Test func anOverlongOptionalRequestIDIsRefusedNotTruncated() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        let long = String(repeating: "r", count: 129)
        try socket.send([[], frame("SLU1"), frame("PING"), frame(#"{"request_id":"\#(long)"}"#), frame("{}")])
        let reply = try #require(try socket.receiveMessage())
        #expect(reply.kind == .error && reply.header["request_id"] == nil)
        try socket.send([[], frame("SLU1"), frame("PING"), frame("{}"), frame("{}")])
        #expect(try socket.receiveMessage()?.kind == .pong, "an absent request_id stays allowed")
    }

    /// A key reused with another payload after it committed is refused by the writer (the ledger);
    /// that refusal reaches audit.rejected like an admission refusal.
    @Test func aWriterRefusalIsOnAuditRejected() async throws {
        let broker = try RunningBroker()
        let watcher = try broker.rejectionWatcher()
        let client = try broker.client()
        defer { client.close() }
        _ = try await client.send("task.create@v1", ["title": "first"], idempotencyKey: "reused")
        await #expect(throws: WireError.self) {
            try await client.send("task.create@v1", ["title": "second"], idempotencyKey: "reused")
        }
        var record: JSONValue?
        _ = try watcher.awaitEvents { event in
            if event.topic == Topic.rejected { record = event.body }
            return record != nil
        }
        let refused = try #require(record)
        #expect(refused["code"] == "idempotency_mismatch")
        #expect(refused["idempotency_key"] == "reused")
        #expect(refused["db"] == "tasks")
        #expect(refused["contract"] == "task.create@v1")
        #expect(refused["actor"] == "local")
    }

    /// Keys are scoped by (actor, database): the in-flight table agrees with the ledgers.
    @Test func oneKeyInTwoDatabasesIsTwoCommandsWhetherInFlightOrCommitted() async throws {
        let directory = TemporaryDirectory()
        try PluginCatalog(dataDirectory: directory.path("data")).install(
            from: try PluginTests.plugin("beta", in: directory))
        let broker = try RunningBroker(directory: directory)
        let socket = try broker.socket(.dealer)
        func command(_ id: String, _ contract: String, _ title: String) -> [[UInt8]] {
            [[], frame("SLU1"), frame("COMMAND"),
             frame(#"{"request_id":"\#(id)","contract":"\#(contract)","idempotency_key":"K1"}"#),
             frame(#"{"title":"\#(title)"}"#)]
        }
        // Both in flight at once (sent back to back), then both again once committed.
        try socket.send(command("a", "task.create@v1", "t"))
        try socket.send(command("b", "beta.item.create@v1", "b"))
        var first: [String: WireMessage] = [:]
        for _ in 0..<2 {
            let reply = try #require(try socket.receiveMessage())
            first[reply.header["request_id"]?.stringValue ?? "?"] = reply
        }
        #expect(first["a"]?.kind == .ack && first["a"]?.body["duplicate"] == false, "\(String(describing: first["a"]))")
        #expect(first["b"]?.kind == .ack && first["b"]?.body["duplicate"] == false, "\(String(describing: first["b"]))")
        #expect(first["a"]?.body["db"] == "tasks")
        #expect(first["b"]?.body["db"] == "beta")
        try socket.send(command("c", "beta.item.create@v1", "b"))
        let again = try #require(try socket.receiveMessage())
        #expect(again.body["duplicate"] == true && again.body["db"] == "beta")
        // Within one database, another payload is refused, in flight or committed.
        try socket.send(command("d", "task.create@v1", "other"))
        #expect(WireError(json: try #require(try socket.receiveMessage()).body).code == .idempotencyMismatch)

        // STATUS without db cannot pick one of two databases; with db it answers.
        try socket.send([[], frame("SLU1"), frame("STATUS"), frame(#"{"request_id":"s"}"#), frame(#"{"idempotency_key":"K1"}"#)])
        let ambiguous = try #require(try socket.receiveMessage())
        #expect(WireError(json: ambiguous.body).code == .invalidMessage)
        #expect(WireError(json: ambiguous.body).details["databases"] == ["beta", "tasks"])
        try socket.send(
            [[], frame("SLU1"), frame("STATUS"), frame(#"{"request_id":"s2"}"#),
             frame(#"{"idempotency_key":"K1","db":"beta"}"#)])
        let status = try #require(try socket.receiveMessage())
        #expect(status.body["state"] == "committed" && status.body["db"] == "beta")
    }
}
