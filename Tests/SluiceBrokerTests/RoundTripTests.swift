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

    @Test func pastDeadlineIsNotRun() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        var message = command("late", ["title": "late"])
        message.header["deadline_ms"] = 1
        // A deadline of 1 ms can still be met on an idle broker; what must hold is consistency:
        // an ACK means the row exists, deadline_exceeded means it does not.
        let reply = try #require(try socket.request(message))
        let rows = try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks")
        if reply.kind == .ack {
            #expect(rows == 1)
        } else {
            #expect(WireError(json: reply.body).code == .deadlineExceeded)
            #expect(rows == 0)
        }
    }
}

@Suite struct MultiStatementContractTests {
    /// A second contract set adding a two-statement contract to the `tasks` database.
    static func pairContracts(in directory: TemporaryDirectory) throws -> URL {
        let set = directory.path("pair-set")
        try FileManager.default.createDirectory(
            at: set.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        let contract = #"""
            {"name": "task.pair", "version": "v1", "kind": "command", "database": "tasks",
             "input": {"type": "object", "required": ["title", "ref"], "properties": {"title": {"type": "string"}, "ref": {"type": "string"}}},
             "statements": [
               "INSERT INTO tasks(id, title, created_at, created_by) VALUES (:_id, :title, :_now, :_actor)",
               "INSERT INTO tasks(id, title, ref, created_at, created_by) VALUES (:_id || '-2', :title, :ref, :_now, :_actor)"
             ]}
            """#
        try contract.write(
            to: set.appendingPathComponent("contracts/task.pair.v1.json"), atomically: true, encoding: .utf8)
        return set
    }

    @Test func aFailingLaterStatementUndoesTheEarlierOnes() throws {
        let directory = TemporaryDirectory()
        let set = try Self.pairContracts(in: directory)
        let broker = try RunningBroker(directory: directory) { $0.contractDirectories.append(set) }
        let socket = try broker.socket(.req)
        func pair(_ key: String, ref: String) throws -> WireMessage {
            let request = CommandRequest(
                requestID: key, contract: ContractID("task.pair@v1")!, idempotencyKey: key,
                payload: ["title": "p", "ref": .string(ref)]
            )
            return try #require(try socket.request(request.message()))
        }
        let first = try pair("one", ref: "same")
        #expect(first.kind == .ack, "\(first.body)")
        #expect(Acknowledgement(json: first.body)?.result["changes"] == 2)
        let second = try pair("two", ref: "same")
        #expect(WireError(json: second.body).code == .constraintViolation)

        let db = try broker.open()
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == 2)
        let changes = try db.read { db in try String.fetchAll(db, sql: "SELECT changes FROM sluice_log ORDER BY seq") }
        #expect(changes.count == 2)
        #expect(try JSONValue(parsing: changes[1])["tables"] == .object([:]), "a failed command changed nothing")
    }
}
