import Foundation
import GRDB
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// Bad input of every kind gets a clear ERROR (or, past the hard frame limit, a dropped
/// connection), changes nothing, and the broker keeps serving.
@Suite struct MalformedInputTests {
    static let cases: [(String, [[UInt8]], ErrorCode)] = [
        ("wrong frame count", [[], frame("SLU1"), frame("PING"), frame("{}")], .invalidMessage),
        ("bad tag", [[], frame("SLU9"), frame("PING"), frame("{}"), frame("{}")], .invalidMessage),
        ("no delimiter", [frame("SLU1"), frame("PING"), frame("{}"), frame("{}")], .invalidMessage),
        (
            "bad header JSON", [[], frame("SLU1"), frame("PING"), frame("{\"request_id\":"), frame("{}")],
            .invalidMessage
        ),
        ("bad body JSON", [[], frame("SLU1"), frame("COMMAND"), frame("{}"), [0xFF, 0x00]], .invalidMessage),
        ("unknown kind", [[], frame("SLU1"), frame("DROP_TABLES"), frame("{}"), frame("{}")], .invalidMessage),
        (
            "oversized body",
            [[], frame("SLU1"), frame("COMMAND"), frame("{}"), [UInt8](repeating: 0x20, count: 2 << 20)],
            .payloadTooLarge
        ),
        (
            "missing idempotency key",
            [
                [], frame("SLU1"), frame("COMMAND"), frame(#"{"request_id":"r","contract":"task.create@v1"}"#),
                frame(#"{"title":"x"}"#),
            ],
            .invalidMessage
        ),
        (
            "unknown contract",
            [
                [], frame("SLU1"), frame("COMMAND"),
                frame(#"{"request_id":"r","contract":"nope.nothing@v1","idempotency_key":"k"}"#),
                frame(#"{"title":"x"}"#),
            ],
            .unknownContract
        ),
        (
            "missing required field",
            [
                [], frame("SLU1"), frame("COMMAND"),
                frame(#"{"request_id":"r","contract":"task.create@v1","idempotency_key":"k"}"#), frame("{}"),
            ],
            .validationFailed
        ),
        (
            "wrong field type",
            [
                [], frame("SLU1"), frame("COMMAND"),
                frame(#"{"request_id":"r","contract":"task.create@v1","idempotency_key":"k"}"#),
                frame(#"{"title":7}"#),
            ],
            .validationFailed
        ),
    ]

    @Test(arguments: cases.indices)
    func badInputGetsATypedErrorAndChangesNothing(_ index: Int) throws {
        let (name, frames, code) = Self.cases[index]
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        try socket.send(frames)
        let reply = try #require(try socket.receiveMessage(), "no reply for \(name)")
        #expect(reply.kind == .error, "\(name)")
        #expect(WireError(json: reply.body).code == code, "\(name): \(reply.body)")
        #expect(!(WireError(json: reply.body).message.isEmpty))

        // Still serving, and nothing reached the database.
        let pong = try #require(try socket.request(WireMessage(kind: .ping, header: ["request_id": "p"])))
        #expect(pong.kind == .pong)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
        #expect(try TasksDatabase.logSeqs(broker.open()).isEmpty)
    }

    @Test func frameBeyondTheHardLimitDropsOnlyThatConnection() throws {
        let broker = try RunningBroker { $0.limits.maxFrameBytes = 64 << 10 }
        let attacker = try broker.socket(.dealer, receiveTimeoutMs: 500)
        try attacker.send([[], frame("SLU1"), frame("PING"), frame("{}"), [UInt8](repeating: 0x20, count: 256 << 10)])
        #expect(try attacker.receive() == nil)

        let bystander = try broker.socket(.req)
        let pong = try #require(try bystander.request(WireMessage(kind: .ping, header: ["request_id": "p"])))
        #expect(pong.kind == .pong)
    }

    @Test func rejectionsAreCountedAndAudited() throws {
        let broker = try RunningBroker()
        let watcher = try broker.rejectionWatcher()
        let socket = try broker.socket(.dealer)
        for (_, frames, _) in Self.cases.prefix(6) {
            try socket.send(frames)
            _ = try #require(try socket.receive())
        }
        let stats = try #require(try socket.request(WireMessage(kind: .stats, header: ["request_id": "s"])))
        #expect(stats.body["malformed"] == .int(6))
        #expect(stats.body["rejected"] == .int(6))

        // The audit writer is asynchronous: wait for its six events (published after its commit).
        var published = 0
        while published < 6, let frames = try watcher.receive() {
            if frames.first == frame(Topic.rejected) { published += 1 }
        }
        let audit = try TasksDatabase.open(broker.broker.configuration.dataDirectory.appendingPathComponent("audit.db"))
        #expect(try TasksDatabase.count(audit, "SELECT count(*) FROM rejections") == 6)
        let codes = try audit.read { db in
            try String.fetchAll(db, sql: "SELECT json_extract(record, '$.code') FROM rejections")
        }
        #expect(Set(codes) == ["invalid_message"])
    }
}

@Suite struct ContractLimitTests {
    @Test func anInputOverTheContractsLimitIsRefused() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        // task.create@v1 accepts at most 4096 bytes of input; its title at most 200 characters,
        // so the size check must come first to be seen: pad with a long ref instead.
        let request = CommandRequest(
            requestID: "big", contract: ContractID("task.create@v1")!, idempotencyKey: "big",
            payload: ["title": "t", "ref": .string(String(repeating: "r", count: 5000))]
        )
        let reply = try #require(try socket.request(request.message()))
        let error = WireError(json: reply.body)
        #expect(error.code == .payloadTooLarge)
        #expect(error.details["limit"] == 4096)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }
}
