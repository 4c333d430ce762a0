import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// Stored streams, administrative requests and statistics: a plugin reaches what its manifest
/// grants; the operator everything.
@Suite(.timeLimit(.minutes(2))) struct AuthorizationTests {
    /// `alpha` shares plugins.db and holds `audit:tasks:read`; `beta` has its own database.
    static func broker() throws -> RunningBroker {
        let directory = TemporaryDirectory()
        let catalog = PluginCatalog(dataDirectory: directory.path("data"))
        try catalog.install(
            from: try PluginTests.plugin("alpha", in: directory, mode: .shared) {
                $0["capabilities"] = ["data:alpha:create", "audit:tasks:read"]
            })
        try catalog.install(from: try PluginTests.plugin("beta", in: directory))
        return try RunningBroker(directory: directory)
    }

    static func socket(_ broker: RunningBroker, as name: String) throws -> RawSocket {
        let data = broker.broker.configuration.dataDirectory
        let token = try #require(TokenStore(dataDirectory: data).token(for: name))
        return try RawSocket(
            .dealer, endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: name, token: token))
    }

    /// The first reply to one request: its kind and, for an ERROR, the code.
    static func ask(_ socket: RawSocket, _ kind: String, _ body: JSONValue) throws -> (String, String?) {
        try socket.send([[], frame("SLU1"), frame(kind), frame("{\"request_id\":\"r1\"}"), body.canonicalBytes()])
        let reply = try #require(try socket.receiveMessage())
        return (reply.kind.rawValue, reply.kind == .error ? WireError(json: reply.body).code.rawValue : nil)
    }

    @Test(arguments: [
        ("alpha", "audit.tasks", true),  // granted audit:tasks:read
        ("alpha", "inval.tasks", true),  // audit implies invalidations
        ("alpha", "audit.plugins", false),  // shared plugins.db holds every shared plugin's commands
        ("alpha", "audit.beta", false),
        ("alpha", "audit.rejected", true),  // its own refusals only (below)
        ("beta", "audit.beta", true),  // its own exclusive database
        ("beta", "inval.beta", true),
        ("beta", "audit.tasks", false),
        ("local", "audit.rejected", true),
        ("local", "audit.beta", true),
        ("beta", "audit.lifecycle", false),  // the plugins' lifecycle is the operator's
        ("local", "audit.lifecycle", true),
    ])
    func syncNeedsAReadCapability(_ identity: String, _ topic: String, _ allowed: Bool) throws {
        let broker = try Self.broker()
        let socket = try Self.socket(broker, as: identity)
        let (kind, code) = try Self.ask(socket, "SYNC", ["topic": .string(topic), "from_seq": 1])
        if allowed {
            #expect(kind == "SYNC_END", "\(identity) reads \(topic)")
        } else {
            #expect(code == "capability_denied", "\(identity) must not read \(topic)")
        }
    }

    @Test func compactIsTheOperators() throws {
        let broker = try Self.broker()
        #expect(try Self.ask(Self.socket(broker, as: "beta"), "COMPACT", ["db": "beta"]).1 == "capability_denied")
        #expect(try Self.ask(Self.socket(broker, as: "alpha"), "COMPACT", ["db": "tasks"]).1 == "capability_denied")
        #expect(try Self.ask(Self.socket(broker, as: "local"), "COMPACT", ["db": "tasks"]).0 == "COMPACTED")
    }

    /// RELOAD is the operator's; its body is checked before anything stops.
    @Test func reloadIsTheOperators() throws {
        let broker = try Self.broker()
        #expect(try Self.ask(Self.socket(broker, as: "beta"), "RELOAD", [:]).1 == "capability_denied")
        let local = try Self.socket(broker, as: "local")
        #expect(try Self.ask(local, "RELOAD", ["action": "explode", "plugin": "beta"]).1 == "invalid_message")
        #expect(try Self.ask(local, "RELOAD", ["action": "install", "purge": true]).1 == "invalid_message")
        #expect(try Self.ask(local, "RELOAD", ["plugin": "../etc"]).1 == "invalid_message")
        #expect(try Self.ask(local, "RELOAD", [:]).0 == "RELOADED")
        // Nothing changed on disk: nothing to report, and the plugins still served.
        #expect(try Self.ask(Self.socket(broker, as: "beta"), "PING", [:]).0 == "PONG")
    }

    @Test func statsShowAPluginOnlyItsOwnCounters() async throws {
        let broker = try Self.broker()
        let alpha = try PluginTests.client(broker, as: "alpha")
        defer { alpha.close() }
        _ = try await alpha.send("alpha.item.create@v1", ["title": "a"], idempotencyKey: "k")
        let beta = try Self.socket(broker, as: "beta")
        try beta.send([[], frame("SLU1"), frame("STATS"), frame("{\"request_id\":\"s\"}"), frame("{}")])
        let reply = try #require(try beta.receiveMessage())
        #expect(reply.body.objectValue?.keys.sorted() == ["actors"])
        #expect(reply.body["actors"]?.objectValue?.keys.sorted() == ["beta"])
        let local = try Self.socket(broker, as: "local")
        try local.send([[], frame("SLU1"), frame("STATS"), frame("{\"request_id\":\"s\"}"), frame("{}")])
        let full = try #require(try local.receiveMessage())
        #expect(full.body["actors"]?["alpha"] != nil)
        #expect(full.body["committed"] != nil)
    }

    @Test func aPluginReadsOnlyItsOwnRefusals() async throws {
        let broker = try Self.broker()
        let alpha = try PluginTests.client(broker, as: "alpha")
        let beta = try PluginTests.client(broker, as: "beta")
        let local = try broker.client()
        defer {
            alpha.close()
            beta.close()
            local.close()
        }
        // Refusals of three identities, interleaved: beta's, alpha's, beta's, alpha's.
        for round in 0..<2 {
            await #expect(throws: WireError.self) { try await beta.send("task.create@v1", ["title": .string("b\(round)")]) }
            await #expect(throws: WireError.self) { try await alpha.send("nothing.here@v1", ["title": .string("a\(round)")]) }
        }
        // The operator sees all four once they are stored.
        var all: [Event] = []
        for _ in 0..<1000 where all.count < 4 {
            let page = try await local.sync(topic: Topic.rejected, fromSeq: 1)
            all = page.events
            if all.count < 4 { _ = try await local.ping() }  // a round trip, then look again
        }
        try #require(all.count == 4)
        #expect(all.map { $0.body["actor"] } == ["beta", "alpha", "beta", "alpha"])

        let mine = try await alpha.sync(topic: Topic.rejected, fromSeq: 1)
        #expect(mine.events.map { $0.body["actor"] } == ["alpha", "alpha"])
        #expect(mine.events.map(\.seq) == [all[1].seq, all[3].seq])
        #expect(mine.end.headSeq == all[3].seq && mine.end.complete)
        let after = try await alpha.sync(topic: Topic.rejected, fromSeq: all[3].seq + 1)
        #expect(after.events.isEmpty && after.end.complete, "no page of other identities' records to wait for")
    }

    /// A plugin naming another actor in the header (or trying the operator's name) is still
    /// itself in the log, the ledger and the audit record.
    @Test func aPluginNamingAnotherActorInTheMessageIsStillItself() async throws {
        let broker = try Self.broker()
        let beta = try Self.socket(broker, as: "beta")
        let header: JSONValue = [
            "request_id": "r", "contract": "beta.item.create@v1", "idempotency_key": "spoof", "actor": "local",
            "user": "local", "identity": "alpha",
        ]
        try beta.send([[], frame("SLU1"), frame("COMMAND"), header.canonicalBytes(), frame(#"{"title": "mine"}"#)])
        let reply = try #require(try beta.receiveMessage())
        #expect(reply.kind == .ack, "\(reply.body)")
        let local = try broker.client()
        defer { local.close() }
        let audit = try await local.sync(topic: "audit.beta", fromSeq: 1)
        #expect(audit.events.map { $0.body["actor"] } == ["beta"])
        let data = broker.broker.configuration.dataDirectory
        let logged = try await TasksDatabase.open(data.appendingPathComponent("plugins/beta.db")).read { db in
            try String.fetchAll(db, sql: "SELECT actor FROM sluice_log WHERE idempotency_key = 'spoof'")
        }
        #expect(logged == ["beta"], "the log row, which is the key's idempotency entry too")
    }
}
