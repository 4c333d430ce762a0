import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

@Suite(.timeLimit(.minutes(2))) struct AuditPolicyTests {
    static let secret = "hunter2-correct-horse"

    /// Contracts on the tasks table whose `title` is sensitive, one per redaction mode, plus one
    /// at level `none`.
    static func contracts(in directory: TemporaryDirectory) throws -> URL {
        let set = directory.path("secret-set")
        try FileManager.default.createDirectory(
            at: set.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        for (name, audit) in [
            ("task.masked", #"{"level": "requestResponse", "redact": ["title"]}"#),
            ("task.hashed", #"{"level": "request", "redact": ["title"], "redaction": "hash"}"#),
            ("task.quiet", #"{"level": "none"}"#),
        ] {
            let contract = """
                {"name": "\(name)", "version": "v1", "kind": "command", "database": "tasks", "audit": \(audit),
                 "input": {"type": "object", "required": ["title"], "additionalProperties": false,
                           "properties": {"title": {"type": "string"}, "note": {"type": "string"}}},
                 "statements": ["INSERT INTO tasks(id, title, created_at, created_by) VALUES (:_id, :title, :_now, :_actor) RETURNING id, title"]}
                """
            try contract.write(
                to: set.appendingPathComponent("contracts/\(name).v1.json"), atomically: true, encoding: .utf8)
        }
        return set
    }

    func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let needle = Array(needle.utf8)
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains {
            haystack[$0..<($0 + needle.count)].elementsEqual(needle)
        }
    }

    @Test func redactedValuesNeverReachEventsReplaysOrAuditDB() async throws {
        let directory = TemporaryDirectory()
        let set = try Self.contracts(in: directory)
        let broker = try RunningBroker(directory: directory) { $0.contractDirectories.append(set) }
        let client = try broker.client()
        defer { client.close() }
        var live = client.events(topic: "").makeAsyncIterator()
        while let event = try await live.next(), event.topic != Topic.heartbeat {}

        let masked = try await client.send("task.masked@v1", ["title": .string(Self.secret), "note": "visible"])
        #expect(
            masked.result["rows"]?.arrayValue?.first?["title"]?.stringValue == Self.secret,
            "the sender gets its own result")
        let hashedA = try await client.send("task.hashed@v1", ["title": .string(Self.secret)])
        let hashedB = try await client.send("task.hashed@v1", ["title": .string(Self.secret)])
        let other = try await client.send("task.hashed@v1", ["title": "something else"])
        let quiet = try await client.send("task.quiet@v1", ["title": .string(Self.secret)])
        // A rejected command carrying the secret is audited too.
        await #expect(throws: WireError.self) {
            try await client.send("task.masked@v1", ["title": .string(Self.secret), "extra": .string(Self.secret)])
        }

        var audits: [Int64: Event] = [:]
        var sawRejection = false
        while audits.count < 5 || !sawRejection, let event = try await live.next() {
            #expect(
                !contains(
                    Event.frames(
                        topic: event.topic, stream: event.stream, seq: event.seq, epoch: event.epoch,
                        body: event.body.canonicalBytes()
                    ).flatMap { $0 }, Self.secret))
            if event.topic == "audit.tasks" { audits[event.seq] = event }
            if event.topic == Topic.rejected { sawRejection = true }
        }
        let maskedEvent = try #require(audits[masked.seq])
        #expect(maskedEvent.body["level"] == "requestResponse")
        #expect(maskedEvent.body["request"] == ["title": "[REDACTED]", "note": "visible"])
        #expect(maskedEvent.body["response"]?["rows"]?.arrayValue?.first?["title"] == "[REDACTED]")
        let hashA = audits[hashedA.seq]?.body["request"]?["title"]?.stringValue
        #expect(hashA?.hasPrefix("hmac-sha256:") == true)
        #expect(hashA == audits[hashedB.seq]?.body["request"]?["title"]?.stringValue, "equal values correlate")
        #expect(hashA != audits[other.seq]?.body["request"]?["title"]?.stringValue)
        #expect(audits[hashedA.seq]?.body["response"] == nil, "level request carries no response")
        #expect(
            audits[quiet.seq]?.body == [
                "db": "tasks", "level": "none", "seq": .int(quiet.seq), "status": "ok",
                "ts": audits[quiet.seq]!.body["ts"]!,
            ])

        // SYNC replays are built from the log with the same policy: identical, and as clean.
        let (replayed, _) = try await client.sync(topic: "audit.tasks", fromSeq: 1)
        for event in replayed {
            #expect(!contains(event.body.canonicalBytes(), Self.secret))
            #expect(event == audits[event.seq])
        }
        for file in ["audit.db", "audit.db-wal"] {
            let url = broker.broker.configuration.dataDirectory.appendingPathComponent(file)
            guard let bytes = try? Data(contentsOf: url) else { continue }
            #expect(!contains(Array(bytes), Self.secret), "\(file)")
        }
    }
}
