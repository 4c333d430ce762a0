import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// Identity comes from the connection's PLAIN credentials, judged by the broker's ZAP handler.
@Suite struct IdentityTests {
    func command(_ key: String) -> WireMessage {
        CommandRequest(
            requestID: key, contract: ContractID("task.create@v1")!, idempotencyKey: key, payload: ["title": "x"]
        )
        .message()
    }

    @Test func theOperatorIsLocal() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        let welcome = try #require(try socket.request(WireMessage(kind: .hello, header: ["request_id": "h"])))
        #expect(welcome.body["actor"] == "local")
    }

    /// The next `audit.rejected` record with code `unauthenticated` on `watcher`; nil if none
    /// comes within a minute (refusals are audited at the next heartbeat).
    static func nextHandshakeRefusal(_ watcher: RawSocket) throws -> JSONValue? {
        var refusal: JSONValue?
        _ = try watcher.awaitEvents { event in
            if event.topic == Topic.rejected, event.body["code"] == "unauthenticated" { refusal = event.body }
            return refusal != nil
        }
        return refusal
    }

    @Test(arguments: [
        ("local", "0000000000000000000000000000000000000000000000000000000000000000", "local"),
        ("nobody", "whatever", "nobody"),
        ("../../etc/passwd", "x", "(not a valid identity name)"),
    ])
    func refusedCredentialsAreRefusedAtTheHandshakeCountedAndAudited(
        _ name: String, _ token: String, _ audited: String
    ) throws {
        let broker = try RunningBroker()
        let watcher = try broker.rejectionWatcher()
        let socket = try RawSocket(
            .dealer, endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: name, token: token),
            watchHandshakes: true, reconnect: false)
        let handshake = try #require(try socket.nextHandshake())
        #expect(handshake.kind == .handshakeFailedAuth)
        #expect(handshake.value == 400)
        // Whatever it sends never reaches the broker (checked below: nothing received, nothing written).
        try? socket.socket.send([[]] + command("k").frames(), dontWait: true)

        let record = try #require(try Self.nextHandshakeRefusal(watcher))
        #expect(record["name"] == .string(audited))
        #expect(record["count"] == 1)
        #expect(record["actor"] == "(unauthenticated)")
        let stats = try #require(try broker.socket(.req).request(WireMessage(kind: .stats, header: ["request_id": "s"])))
        #expect(stats.body["refused_handshakes"] == 1)
        #expect(stats.body["received"] == 1, "only this STATS request reached the broker")
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    @Test func aFloodOfBadCredentialsIsAuditedInAggregate() throws {
        let broker = try RunningBroker()
        let watcher = try broker.rejectionWatcher()
        let names = (0..<100).map { "intruder-\($0)" }
        for name in names {
            let socket = try RawSocket(
                .dealer, endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: name, token: "x"),
                watchHandshakes: true, reconnect: false)
            #expect(try socket.nextHandshake()?.kind == .handshakeFailedAuth)
        }
        var counted: [String: Int64] = [:]
        while counted.values.reduce(0, +) < Int64(names.count), let record = try Self.nextHandshakeRefusal(watcher) {
            counted[record["name"]?.stringValue ?? "?", default: 0] += record["count"]?.intValue ?? 0
        }
        #expect(counted.values.reduce(0, +) == Int64(names.count))
        #expect(Set(counted.keys).isSubset(of: Set(names + ["(other names)"])))
    }

    @Test func aClientWithoutCredentialsIsToldWhy() async throws {
        let broker = try RunningBroker()
        let client = try SluiceClient(endpoint: broker.commandEndpoint)
        defer { client.close() }
        do {
            try await client.send("task.create@v1", ["title": "x"])
            Issue.record("expected credentials_refused")
        } catch let error as SluiceClientError {
            #expect(error.code == .credentialsRefused)
            #expect(error.message.contains("tokens/local.token"))
        }
    }

    @Test func aClientWithAWrongTokenIsToldWhyAndNothingRuns() async throws {
        let broker = try RunningBroker()
        let client = try SluiceClient(
            configuration: ClientConfiguration(
                endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "local", token: "wrong")))
        defer { client.close() }
        for attempt in 0..<2 {  // the first waits for the handshake; the second fails at once
            do {
                try await client.send("task.create@v1", ["title": "x"], idempotencyKey: "w\(attempt)")
                Issue.record("expected credentials_refused")
            } catch let error as SluiceClientError {
                #expect(error.code == .credentialsRefused)
                #expect(error.message.contains("tokens/local.token"))
            }
        }
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    @Test func aNameInTheMessageChangesNothing() throws {
        let broker = try RunningBroker()
        let socket = try broker.socket(.req)
        var message = command("claimed")
        message.header["actor"] = "someone-else"
        message.body = ["title": "x"]
        let reply = try #require(try socket.request(message))
        #expect(reply.kind == .ack)
        let actor = try broker.open().read { db in try String.fetchOne(db, sql: "SELECT actor FROM sluice_log") }
        #expect(actor == "local")
    }
}
