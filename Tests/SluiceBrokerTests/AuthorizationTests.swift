import Foundation
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
        ("alpha", "audit.rejected", false),
        ("beta", "audit.beta", true),  // its own exclusive database
        ("beta", "inval.beta", true),
        ("beta", "audit.tasks", false),
        ("local", "audit.rejected", true),
        ("local", "audit.beta", true),
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
}
