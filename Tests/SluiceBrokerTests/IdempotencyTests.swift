import Foundation
import GRDB
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

@Suite struct IdempotencyTests {
    func command(_ key: String, _ payload: JSONValue, requestID: String? = nil) -> WireMessage {
        CommandRequest(
            requestID: requestID ?? "req-\(key)", contract: ContractID("task.create@v1")!, idempotencyKey: key,
            payload: payload
        )
        .message()
    }

    @Test func sameKeySamePayloadReturnsTheStoredResultWithoutRunningAgain() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        let firstReply = try #require(try socket.request(command("k", ["title": "once", "priority": 1])))
        let first = try #require(Acknowledgement(json: firstReply.body))
        // Same payload with keys in another order and different spacing is the same payload.
        var again = command("k", ["priority": 1, "title": "once"], requestID: "second")
        again.body = try JSONValue(parsing: #"{ "priority" : 1 , "title":"once" }"#)
        let secondReply = try #require(try socket.request(again))
        let second = try #require(Acknowledgement(json: secondReply.body))
        #expect(!first.duplicate)
        #expect(second.duplicate)
        #expect(second.seq == first.seq)
        #expect(second.result == first.result)
        let db = try broker.open()
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == 1)
        #expect(try TasksDatabase.logSeqs(db) == [1])
    }

    /// Until 2026-12-01 the entries were a table of their own and the log had no idempotency
    /// columns: first keyed by `(actor, idempotency_key)` itself (`WITHOUT ROWID`), then as a rowid
    /// table with a unique index. The next start of such a database adds the log's columns and
    /// index (its older rows answer for nothing) and keeps the old entries in `sluice_ledger`, in
    /// the rowid layout: a retry of a key stored before is still a duplicate with its seq, a
    /// different payload under it still a mismatch; new commands' entries are their log rows.
    @Test(arguments: [true, false]) func entriesOfAnEarlierLayoutKeepAnsweringForTheirKeys(withoutRowid: Bool) throws {
        let directory = TemporaryDirectory()
        var seqs: [String: Int64] = [:]
        do {
            let broker = try RunningBroker(directory: directory)
            let socket = try broker.socket(.req)
            for key in ["a", "b", "c"] {
                let reply = try #require(try socket.request(command(key, ["title": .string("t-\(key)")])))
                seqs[key] = try #require(Acknowledgement(json: reply.body)).seq
            }
            broker.stop()
        }
        // Turn the file into the earlier layout: the entries into a table of their own, the log
        // without its idempotency columns and index.
        let file = directory.path("data").appendingPathComponent("tasks.db")
        try DatabaseQueue(path: file.path).write { db in
            try db.execute(
                sql: """
                    DROP TABLE sluice_ledger;
                    CREATE TABLE sluice_ledger(
                        actor TEXT NOT NULL, idempotency_key TEXT NOT NULL, payload_hash TEXT NOT NULL,
                        seq INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
                        result TEXT NOT NULL, committed_at TEXT NOT NULL, expires_ms INTEGER NOT NULL
                        \(withoutRowid ? ", PRIMARY KEY (actor, idempotency_key)) WITHOUT ROWID" : ")");
                    INSERT INTO sluice_ledger SELECT actor, idempotency_key, payload_hash, seq, status, result,
                        ts, expires_ms FROM sluice_log;
                    \(withoutRowid ? "" : "CREATE UNIQUE INDEX sluice_ledger_key ON sluice_ledger(actor, idempotency_key);")
                    CREATE INDEX sluice_ledger_expiry ON sluice_ledger(expires_ms);
                    DROP INDEX sluice_log_key;
                    ALTER TABLE sluice_log DROP COLUMN payload_hash;
                    ALTER TABLE sluice_log DROP COLUMN expires_ms;
                    """)
        }

        let broker = try RunningBroker(directory: directory)
        let db = try broker.open()
        let (definition, indexes, logColumns) = try db.read { db in
            (
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'sluice_ledger'") ?? "",
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT name FROM sqlite_master WHERE type = 'index'
                        AND tbl_name IN ('sluice_ledger', 'sluice_log') AND sql IS NOT NULL ORDER BY 1
                        """),
                try db.columns(in: "sluice_log").map(\.name).suffix(2)
            )
        }
        #expect(!definition.uppercased().contains("WITHOUT ROWID"), "\(definition)")
        #expect(indexes == ["sluice_ledger_expiry", "sluice_ledger_key", "sluice_log_key"])
        #expect(Array(logColumns) == ["payload_hash", "expires_ms"])
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM sluice_ledger") == 3)
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM sluice_log WHERE payload_hash IS NULL") == 3)

        let socket = try broker.socket(.req)
        let retry = try #require(try socket.request(command("b", ["title": "t-b"], requestID: "again")))
        let duplicate = try #require(Acknowledgement(json: retry.body))
        #expect(duplicate.duplicate && duplicate.seq == seqs["b"])
        let changed = try #require(try socket.request(command("c", ["title": "another"])))
        #expect(WireError(json: changed.body).code == .idempotencyMismatch)
        let fresh = try #require(try socket.request(command("d", ["title": "t-d"])))
        #expect(Acknowledgement(json: fresh.body)?.seq == 4)
        #expect(try TasksDatabase.logSeqs(db) == [1, 2, 3, 4])
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM sluice_ledger") == 3, "d's entry is its log row")
        let again = try #require(try socket.request(command("d", ["title": "t-d"], requestID: "d-again")))
        #expect(Acknowledgement(json: again.body).map { $0.duplicate && $0.seq == 4 } == true)
    }

    @Test func sameKeyDifferentPayloadIsAMismatch() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        _ = try socket.request(command("k", ["title": "one"]))
        let reply = try #require(try socket.request(command("k", ["title": "two"])))
        #expect(reply.kind == .error)
        let error = WireError(json: reply.body)
        #expect(error.code == .idempotencyMismatch)
        #expect(!error.retryable)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks WHERE title = 'two'") == 0)
    }

    @Test func sameKeySameInputForAnotherContractIsAMismatch() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        let created = try #require(try socket.request(command("new", ["title": "keep me"])))
        let id = try #require(Acknowledgement(json: created.body)?.result["rows"]?.arrayValue?.first?["id"])
        let complete = CommandRequest(
            requestID: "c", contract: ContractID("task.complete@v1")!, idempotencyKey: "op", payload: ["id": id])
        #expect(try socket.request(complete.message())?.kind == .ack)
        let delete = CommandRequest(
            requestID: "d", contract: ContractID("task.delete@v1")!, idempotencyKey: "op", payload: ["id": id])
        let reply = try #require(try socket.request(delete.message()))
        #expect(WireError(json: reply.body).code == .idempotencyMismatch)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks WHERE done = 1") == 1)
    }

    @Test func inFlightDuplicatesShareTheFirstOutcome() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        // Ten sends of one key, back to back, before any reply: they coalesce onto the first (or,
        // if it already committed, hit the ledger); either way one row and one seq.
        for attempt in 0..<10 {
            try socket.send([[]] + command("burst", ["title": "burst"], requestID: "a\(attempt)").frames())
        }
        var acks: [Acknowledgement] = []
        for _ in 0..<10 {
            let reply = try #require(try socket.receiveMessage())
            #expect(reply.kind == .ack, "\(reply.body)")
            acks.append(try #require(Acknowledgement(json: reply.body)))
        }
        #expect(Set(acks.map(\.seq)) == [1])
        #expect(acks.filter { !$0.duplicate }.count == 1)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 1)
    }

    @Test func inFlightDuplicateWithDifferentPayloadIsAMismatch() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        try socket.send([[]] + command("k", ["title": "first"], requestID: "a").frames())
        try socket.send([[]] + command("k", ["title": "second"], requestID: "b").frames())
        var replies: [String: WireMessage] = [:]
        for _ in 0..<2 {
            let reply = try #require(try socket.receiveMessage())
            replies[reply.requestID ?? ""] = reply
        }
        #expect(replies["a"]?.kind == .ack)
        #expect(replies["b"].map { WireError(json: $0.body).code } == .idempotencyMismatch)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 1)
    }

    @Test func statusAnswersCommittedAndUnknown() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        let reply = try #require(try socket.request(command("known", ["title": "s"])))
        let ack = try #require(Acknowledgement(json: reply.body))
        let committed = try #require(
            try socket.request(
                WireMessage(kind: .status, header: ["request_id": "s1"], body: ["idempotency_key": "known"]))
        )
        #expect(committed.kind == .statusReply)
        #expect(
            CommandStatus(json: committed.body)
                == .committed(Acknowledgement(db: "tasks", seq: ack.seq, duplicate: true, result: ack.result)))
        let unknown = try #require(
            try socket.request(
                WireMessage(kind: .status, header: ["request_id": "s2"], body: ["idempotency_key": "never-sent"]))
        )
        #expect(CommandStatus(json: unknown.body) == .unknown)
    }

    @Test func statusSeesInFlightCommands() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.dealer)
        // Queue enough work that the last command is still waiting when STATUS arrives.
        for index in 0..<2000 {
            try socket.send([[]] + command("load-\(index)", ["title": "x"]).frames())
        }
        try socket.send(
            [[]]
                + WireMessage(kind: .status, header: ["request_id": "st"], body: ["idempotency_key": "load-1999"])
                .frames())
        var status: CommandStatus?
        var acks = 0
        while status == nil || acks < 2000 {
            let reply = try #require(try socket.receiveMessage())
            if reply.kind == .statusReply { status = CommandStatus(json: reply.body) } else { acks += 1 }
        }
        // STATUS is answered by the I/O thread, from its in-flight table, as soon as it reads it —
        // right after load-1999's admission, while the 1,999 commands ahead of it in the same
        // writer are still being committed (two batches and their fsyncs).
        #expect(status == .inFlight)
    }
}
