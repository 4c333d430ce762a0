import Foundation
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// The JSON Schemas in schemas/protocol describe what the broker really sends: every reply and
/// event of a live exchange is checked against them.
@Suite struct ProtocolSchemaTests {
    func schema(_ name: String) throws -> InputSchema {
        let url = Fixtures.repositoryRoot.appendingPathComponent("schemas/protocol/\(name).schema.json")
        return try InputSchema(try JSONValue(parsing: Array(try Data(contentsOf: url))))
    }

    func expectConforms(_ value: JSONValue, to name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let violations = try schema(name).violations(of: value)
        #expect(violations.isEmpty, "\(name): \(violations) in \(value)", sourceLocation: sourceLocation)
    }

    @Test func everySchemaFileLoads() throws {
        let directory = Fixtures.repositoryRoot.appendingPathComponent("schemas/protocol")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".schema.json")
        }
        #expect(names.count >= 18)
        for name in names { _ = try schema(String(name.dropLast(".schema.json".count))) }
    }

    @Test func repliesAndEventsMatchTheirSchemas() throws {
        let broker = try RunningBroker()
        let events = try broker.subscriber([""])
        while let frames = try events.receive(), frames.first != frame("hb") {}

        let socket = try broker.socket(.req)
        let welcome = try #require(try socket.request(WireMessage(kind: .hello, header: ["request_id": "h"])))
        try expectConforms(welcome.body, to: "welcome-body")
        try expectConforms(.object(welcome.header), to: "reply-header")

        let command = CommandRequest(
            requestID: "c", contract: ContractID("task.create@v1")!, idempotencyKey: "k", payload: ["title": "s"])
        try expectConforms(.object(command.message().header), to: "command-header")
        let ack = try #require(try socket.request(command.message()))
        try expectConforms(ack.body, to: "ack-body")
        let duplicate = try #require(try socket.request(command.message()))
        try expectConforms(duplicate.body, to: "ack-body")

        let query = QueryRequest(
            requestID: "q", contract: ContractID("task.list@v1")!, after: ["tasks": 1], parameters: [:])
        try expectConforms(.object(query.message().header), to: "query-header")
        let result = try #require(try socket.request(query.message()))
        #expect(result.kind == .result)
        try expectConforms(result.body, to: "result-body")

        let statusRequest = WireMessage(kind: .status, header: ["request_id": "s"], body: ["idempotency_key": "k"])
        try expectConforms(statusRequest.body, to: "status-request-body")
        try expectConforms(try #require(try socket.request(statusRequest)).body, to: "status-reply-body")

        var bad = command.message()
        bad.header["contract"] = "task.create@v5"
        let error = try #require(try socket.request(bad))
        #expect(error.kind == .error)
        try expectConforms(error.body, to: "error-body")

        let dealer = try broker.socket(.dealer)
        let sync = SyncRequest(topic: "audit.tasks", fromSeq: 1)
        try expectConforms(sync.message(requestID: "y").body, to: "sync-request-body")
        try dealer.send([[]] + sync.message(requestID: "y").frames())
        let replay = try #require(try dealer.receiveMessage())
        #expect(replay.kind == .replay)
        try expectConforms(replay.body, to: "replay-body")
        let end = try #require(try dealer.receiveMessage())
        #expect(end.kind == .syncEnd)
        try expectConforms(end.body, to: "sync-end-body")

        var seen: Set<String> = []
        while seen.count < 4, let frames = try events.receive() {
            let event = try Event(frames: frames)
            try expectConforms(try JSONValue(parsing: frames[1]), to: "event-header")
            let name: String
            switch event.topic {
            case "audit.tasks": name = "audit-event"
            case "inval.tasks": name = "invalidation-event"
            case Topic.rejected: name = "rejection-event"
            case Topic.heartbeat: name = "heartbeat-event"
            default: continue
            }
            try expectConforms(event.body, to: name)
            seen.insert(name)
        }
        #expect(seen == ["audit-event", "invalidation-event", "rejection-event", "heartbeat-event"])
    }

    /// The JSON examples in docs/protocol.md are what a client author copies: each must match
    /// its schema, and every kind of body the document shows an example of is checked.
    @Test func theDocumentsExamplesMatchTheirSchemas() throws {
        let text = try String(
            contentsOf: Fixtures.repositoryRoot.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
        var documents: [String] = []
        for block in text.components(separatedBy: "```json\n").dropFirst() {
            let body = block.components(separatedBy: "```")[0]
            // One document, or one per line starting at column 0 (the STATUS_REPLY examples).
            if (try? JSONValue(parsing: body)) != nil {
                documents.append(body)
            } else {
                var current = ""
                for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix("{"), !current.isEmpty {
                        documents.append(current)
                        current = ""
                    }
                    current += line + "\n"
                }
                documents.append(current)
            }
        }
        var checked: Set<String> = []
        for document in documents where !document.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let value = try JSONValue(parsing: document)
            let name =
                if value["broker_epoch"] != nil && value["limits"] != nil { "welcome-body" }
                else if value["duplicate"] != nil { "ack-body" }
                else if value["columns"] != nil { "result-body" }
                else if value["state"] != nil { "status-reply-body" }
                else if value["code"] != nil && value["retryable"] != nil { "error-body" }
                else if value["actor"] != nil && value["status"] != nil { "audit-event" }
                else if value["tables"] != nil && value["keys"] != nil { "invalidation-event" }
                else { "?" }
            #expect(name != "?", "an example the test does not know: \(document)")
            guard name != "?" else { continue }
            try expectConforms(value, to: name)
            checked.insert(name)
        }
        #expect(
            checked == [
                "welcome-body", "ack-body", "result-body", "status-reply-body", "error-body", "audit-event",
                "invalidation-event",
            ])
    }

    @Test func statsRepliesMatchTheirSchema() throws {
        let broker = try AuthorizationTests.broker()
        let local = try broker.socket(.req)
        let full = try #require(try local.request(WireMessage(kind: .stats, header: ["request_id": "s"])))
        try expectConforms(full.body, to: "stats-reply-body")
        #expect(full.body["refused_handshakes"] != nil && full.body["queued_bytes"] != nil)
        let plugin = try AuthorizationTests.socket(broker, as: "beta")
        try plugin.send([[], frame("SLU1"), frame("STATS"), frame(#"{"request_id":"p"}"#), frame("{}")])
        let own = try #require(try plugin.receiveMessage())
        try expectConforms(own.body, to: "stats-reply-body")
    }
}
