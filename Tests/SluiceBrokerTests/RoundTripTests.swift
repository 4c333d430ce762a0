import Foundation
import GRDB
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

@Suite struct RoundTripTests {
    func command(_ key: String, _ payload: JSONValue, contract: String = "task.create@v1") -> WireMessage {
        CommandRequest(requestID: "req-\(key)", contract: ContractID(contract)!, idempotencyKey: key, payload: payload)
            .message()
    }

    @Test(arguments: [ZMQSocket.SocketType.req, .dealer])
    func commandIsAcknowledgedAfterCommit(_ type: ZMQSocket.SocketType) throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(type)
        let reply = try #require(try socket.request(command("k1", ["title": "write docs", "priority": 3])))
        #expect(reply.kind == .ack, "\(reply.body)")
        #expect(reply.requestID == "req-k1")
        let ack = try #require(Acknowledgement(json: reply.body))
        #expect(ack.db == "tasks")
        #expect(ack.seq == 1)
        #expect(!ack.duplicate)
        #expect(ack.result["rows"]?.arrayValue?.first?["title"] == "write docs")

        let db = try broker.open()
        #expect(
            try TasksDatabase.count(db, "SELECT count(*) FROM tasks WHERE title = 'write docs' AND priority = 3") == 1)
        let log = try db.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, contract, idempotency_key, status, changes, payload FROM sluice_log")
        }
        #expect(log?["seq"] == 1)
        #expect(log?["contract"] == "task.create@v1")
        #expect(log?["status"] == "ok")
        let changes = try JSONValue(parsing: log?["changes"] as String? ?? "")
        #expect(changes["tables"]?["tasks"] == [1])
        #expect(log?["payload"] == #"{"priority":3,"title":"write docs"}"#)
    }

    @Test func helloAnnouncesProtocolAndLimits() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        let welcome = try #require(try socket.request(WireMessage(kind: .hello, header: ["request_id": "h"])))
        #expect(welcome.kind == .welcome)
        #expect(welcome.body["protocol"] == 1)
        #expect(welcome.body["broker_epoch"]?.stringValue == broker.broker.epoch)
        #expect(welcome.body["limits"]?["max_idempotency_key_bytes"] == 255)
        #expect(welcome.body["databases"] == ["tasks"])
    }

    @Test func failingCommandInABatchLeavesTheOthersCommitted() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        // Pipeline 50 commands so they share batches; #25 reuses #10's unique ref.
        for index in 0..<50 {
            let ref = index == 25 ? "ref-10" : "ref-\(index)"
            try socket.send(
                [[]] + command("batch-\(index)", ["title": .string("t\(index)"), "ref": .string(ref)]).frames())
        }
        var replies: [String: WireMessage] = [:]
        for _ in 0..<50 {
            let reply = try #require(try socket.receiveMessage())
            replies[reply.requestID ?? ""] = reply
        }
        #expect(replies.count == 50)
        for index in 0..<50 where index != 25 {
            #expect(replies["req-batch-\(index)"]?.kind == .ack)
        }
        let failed = try #require(replies["req-batch-25"])
        #expect(failed.kind == .error)
        #expect(WireError(json: failed.body).code == .constraintViolation)

        let db = try broker.open()
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == 49)
        // The failure is logged (deterministic), so seqs stay gap-free: 49 ok + 1 failed.
        #expect(try TasksDatabase.logSeqs(db) == Array(1...50))
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM sluice_log WHERE status = 'failed'") == 1)

        // A retry of the failed key gets the same stored answer and runs nothing.
        let retry = try #require(try socket.request(command("batch-25", ["title": "t25", "ref": "ref-10"])))
        #expect(retry.kind == .error)
        #expect(WireError(json: retry.body).code == .constraintViolation)
        #expect(try TasksDatabase.logSeqs(db).count == 50)
    }

    /// `STATS` says how many transactions each writer ran and how many commands they carried:
    /// commands awaited one at a time get a transaction each; commands pipelined share them.
    @Test func statsCountTheWritersTransactionsAndWhatTheyCarried() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        func batches() throws -> (batches: Int64?, commands: Int64?) {
            let stats = try #require(try socket.request(WireMessage(kind: .stats, header: ["request_id": "s"])))
            return (stats.body["batches"]?["tasks"]?.intValue, stats.body["batched_commands"]?["tasks"]?.intValue)
        }
        for index in 0..<5 {
            let reply = try #require(try socket.request(command("one-\(index)", ["title": .string("t\(index)")])))
            #expect(reply.kind == .ack)
        }
        let alone = try batches()
        #expect(alone.batches == 5 && alone.commands == 5)

        for index in 0..<200 {
            try socket.send([[]] + command("many-\(index)", ["title": .string("m\(index)")]).frames())
        }
        for _ in 0..<200 { #expect(try socket.receiveMessage()?.kind == .ack) }
        let shared = try batches()
        let sharedBatches = try #require(shared.batches)
        #expect(shared.commands == 205)
        // 200 commands sent before the first answer is read cannot all wait for a commit each.
        #expect(sharedBatches > 5 && sharedBatches < 205)
    }

    @Test func pastDeadlineIsNotRun() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        // 3,000 commands ahead of it in the same writer's queue (three batches, each ending in
        // an fsync): a command with a 1 ms deadline has waited past it when its turn comes.
        for index in 0..<3000 {
            try socket.send([[]] + command("ahead-\(index)", ["title": "ahead"]).frames())
        }
        var late = command("late", ["title": "late"])
        late.header["deadline_ms"] = 1
        late.header["request_id"] = "late"
        try socket.send([[]] + late.frames())
        var answer: WireMessage?
        while answer == nil, let reply = try socket.receiveMessage() {
            if reply.requestID == "late" { answer = reply }
        }
        let reply = try #require(answer)
        #expect(reply.kind == .error)
        #expect(WireError(json: reply.body).code == .deadlineExceeded)
        #expect(WireError(json: reply.body).retryable, "not run: sending it again with a later deadline is safe")
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks WHERE title = 'late'") == 0)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM sluice_log WHERE idempotency_key = 'late'") == 0)
    }
}
