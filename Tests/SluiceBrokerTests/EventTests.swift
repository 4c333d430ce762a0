import Foundation
import GRDB
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

@Suite struct EventTests {
    /// A SUB socket that is known to be connected: it waits for the first heartbeat, so nothing
    /// published after that is missed to the slow-joiner effect.
    func subscriber(_ broker: RunningBroker, _ topics: [String]) throws -> RawSocket {
        let socket = try broker.subscriber(topics + [Topic.heartbeat])
        while let frames = try socket.receive() {
            if frames.first == frame("hb") { return socket }
        }
        throw WireError(.internal, "no heartbeat within the receive timeout")
    }

    func next(_ socket: RawSocket, topic: String) throws -> Event? {
        while let frames = try socket.receive() {
            let event = try Event(frames: frames)
            if event.topic == topic { return event }
        }
        return nil
    }

    @Test func commitsPublishAuditAndInvalidationEventsWithTheLogSeq() throws {
        let broker = try RunningBroker()
        let events = try subscriber(broker, ["audit.", "inval."])
        let socket = try broker.socket(.req)
        let request = CommandRequest(
            requestID: "r1", contract: ContractID("task.create@v1")!, idempotencyKey: "ev", payload: ["title": "e"])
        let reply = try #require(try socket.request(request.message()))
        let ack = try #require(Acknowledgement(json: reply.body))

        let audit = try #require(try next(events, topic: "audit.tasks"))
        #expect(audit.stream == "tasks")
        #expect(audit.seq == ack.seq)
        #expect(audit.body["status"] == "ok")
        // The admission time, RFC 3339 in UTC with milliseconds, e.g. 2026-11-30T09:18:52.123Z.
        let ts = try #require(audit.body["ts"]?.stringValue)
        #expect(ts.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#, options: .regularExpression) != nil, "\(ts)")
        #expect(audit.body["actor"] == "local")
        #expect(audit.body["request_id"] == "r1")
        #expect(audit.body["idempotency_key"] == "ev")
        #expect(audit.body["contract"] == "task.create@v1")
        #expect(audit.body["latency_ms"]?.doubleValue != nil)

        let invalidation = try #require(try next(events, topic: "inval.tasks"))
        #expect(invalidation.seq == ack.seq)
        #expect(invalidation.epoch == audit.epoch)
        #expect(invalidation.body["tables"]?["tasks"]?.arrayValue?.count == 1)
        #expect(invalidation.body["keys"] == ["tasks:list"])
    }

    /// `SYNC` rebuilds an event from its log row's columns, read where SQLite holds them: the same
    /// bytes as the live event whatever its text says (quotes, backslashes, a tab, non-ASCII), on
    /// both streams. A row whose text is not valid UTF-8 (a log changed outside the broker) is
    /// replayed repaired, as valid JSON.
    @Test func replayedEventsAreTheLiveOnesByteForByteWhateverTheirText() throws {
        let broker = try RunningBroker()
        let events = try subscriber(broker, ["audit.", "inval."])
        let socket = try broker.socket(.req)
        let key = "cl\u{E9} \"quoted\" \\ back\ttab e\u{301}"
        let request = CommandRequest(
            requestID: "r-\u{FC}\"", contract: ContractID("task.create@v1")!, idempotencyKey: key, payload: ["title": "e"])
        let reply = try #require(try socket.request(request.message()))
        let ack = try #require(Acknowledgement(json: reply.body))
        let audit = try #require(try next(events, topic: "audit.tasks"))
        let invalidation = try #require(try next(events, topic: "inval.tasks"))
        #expect(audit.body["idempotency_key"] == .string(key))

        func replayed(_ topic: String) throws -> [UInt8] {
            let dealer = try broker.socket(.dealer)
            try dealer.send(
                [[]] + WireMessage(kind: .sync, header: ["request_id": "s"], body: ["topic": .string(topic), "from_seq": .int(ack.seq)])
                    .frames())
            // ["", SLU1, REPLAY, header, body]: the body as the broker wrote it.
            let frames = try #require(try dealer.receive())
            #expect(frames.count == 5 && frames[2] == Array("REPLAY".utf8))
            let envelope = try JSONValue.parsingObject(frames[frames.count - 1], keepingTextOf: "event")
            return try #require(envelope.text).bytes
        }
        #expect(try replayed("audit.tasks") == audit.frames()[2])
        #expect(try replayed("inval.tasks") == invalidation.frames()[2])

        let file = broker.broker.configuration.dataDirectory.appendingPathComponent("tasks.db")
        try DatabaseQueue(path: file.path).write { db in
            try db.execute(
                sql: "UPDATE sluice_log SET idempotency_key = CAST(x'41ff42' AS TEXT) WHERE seq = ?", arguments: [ack.seq])
        }
        let repaired = try JSONValue(parsing: try replayed("audit.tasks"))
        #expect(repaired["idempotency_key"] == "A\u{FFFD}B")
    }

    @Test func rejectionsArePublishedOnAuditRejected() throws {
        let broker = try RunningBroker()
        let events = try subscriber(broker, [Topic.rejected])
        let socket = try broker.socket(.req)
        let request = CommandRequest(
            requestID: "bad", contract: ContractID("task.create@v7")!, idempotencyKey: "x", payload: ["title": "e"])
        _ = try socket.request(request.message())
        let event = try #require(try next(events, topic: Topic.rejected))
        #expect(event.body["code"] == "unknown_contract")
        #expect(event.body["request_id"] == "bad")
        #expect(event.body["contract"] == "task.create@v7")
        #expect(event.seq == 1)
    }

    @Test func heartbeatCarriesEachStreamsLatestSeq() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        for index in 0..<3 {
            let request = CommandRequest(
                requestID: "r\(index)", contract: ContractID("task.create@v1")!, idempotencyKey: "h\(index)",
                payload: ["title": "h"])
            _ = try socket.request(request.message())
        }
        let events = try subscriber(broker, [])
        let heartbeat = try #require(try next(events, topic: Topic.heartbeat))
        #expect(heartbeat.body["streams"]?["tasks"]?["seq"] == 3)
        #expect(heartbeat.body["broker_epoch"]?.stringValue == broker.broker.epoch)
    }

    /// Until a subscription could receive them, the writers encode no command events (nobody
    /// would get them); the heartbeat's position still follows every command, and the first
    /// command after a subscription is published with the seq that follows.
    @Test func commandEventsAreEncodedOnceSomeoneSubscribes() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        func create(_ key: String) throws -> Acknowledgement {
            let request = CommandRequest(
                requestID: key, contract: ContractID("task.create@v1")!, idempotencyKey: key, payload: ["title": "d"])
            let reply = try #require(try socket.request(request.message()))
            return try #require(Acknowledgement(json: reply.body))
        }
        func eventsPublished() throws -> Int64? {
            let stats = WireMessage(kind: .stats, header: ["request_id": "s"])
            return try socket.request(stats)?.body["events_published"]?.intValue
        }
        for index in 0..<3 { _ = try create("quiet\(index)") }
        // A heartbeat-only subscriber asks for no command events.
        let heartbeats = try subscriber(broker, [])
        let heartbeat = try #require(try next(heartbeats, topic: Topic.heartbeat))
        #expect(heartbeat.body["streams"]?["tasks"]?["seq"] == 3)
        #expect(try eventsPublished() == 0)

        let events = try subscriber(broker, ["audit.tasks"])
        let ack = try create("heard")
        #expect(ack.seq == 4)
        let audit = try #require(try next(events, topic: "audit.tasks"))
        #expect(audit.seq == 4)
        #expect(audit.body["idempotency_key"] == "heard")
        #expect(try eventsPublished() == 2)  // its audit and its invalidation event
    }

    /// `DELETE FROM tasks` without WHERE: SQLite would erase the table at once (its truncate
    /// optimization) and report no rows, unless the writer keeps it from doing so. The
    /// invalidation event names every deleted row.
    @Test func aDeleteOfEveryRowNamesEachRowInTheInvalidationEvent() throws {
        let directory = TemporaryDirectory()
        let set = directory.path("contracts-set")
        try FileManager.default.copyItem(at: Fixtures.tasksContracts, to: set)
        let purge: JSONValue = [
            "name": "task.purge", "version": "v1", "kind": "command", "database": "tasks",
            "input": ["type": "object"], "statements": ["DELETE FROM tasks"], "invalidates": ["tasks:list"],
        ]
        try purge.canonicalString.write(
            to: set.appendingPathComponent("contracts/task.purge.v1.json"), atomically: true, encoding: .utf8)
        let broker = try RunningBroker(directory: directory) { $0.contractDirectories = [set] }
        let socket = try broker.socket(.req)
        for index in 0..<3 {
            let create = CommandRequest(
                requestID: "c\(index)", contract: ContractID("task.create@v1")!, idempotencyKey: "c\(index)",
                payload: ["title": "t"])
            _ = try #require(try socket.request(create.message()))
        }
        let events = try subscriber(broker, ["inval."])
        let request = CommandRequest(
            requestID: "p", contract: ContractID("task.purge@v1")!, idempotencyKey: "p", payload: [:])
        let reply = try #require(try socket.request(request.message()))
        let ack = try #require(Acknowledgement(json: reply.body))
        #expect(ack.result["changes"] == 3)

        let invalidation = try #require(try next(events, topic: "inval.tasks"))
        #expect(invalidation.seq == ack.seq)
        #expect(invalidation.body["tables"]?["tasks"] == [1, 2, 3])
    }
}
