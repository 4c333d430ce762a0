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

    @Test(arguments: [
        ClientCredentials(name: "local", token: "0000000000000000000000000000000000000000000000000000000000000000"),
        ClientCredentials(name: "nobody", token: "whatever"),
        ClientCredentials(name: "../../etc/passwd", token: "x"),
    ])
    func refusedCredentialsGetUnauthenticatedAndChangeNothing(_ credentials: ClientCredentials) throws {
        let broker = try RunningBroker()
        let socket = try RawSocket(.req, endpoint: broker.commandEndpoint, credentials: credentials)
        let reply = try #require(try socket.request(command("k")))
        #expect(WireError(json: reply.body).code == .unauthenticated)
        let hello = try #require(try socket.request(WireMessage(kind: .hello, header: ["request_id": "h"])))
        #expect(WireError(json: hello.body).code == .unauthenticated)
        #expect(try socket.request(WireMessage(kind: .ping, header: ["request_id": "p"]))?.kind == .pong)
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    @Test func aClientWithoutCredentialsIsToldWhy() async throws {
        let broker = try RunningBroker()
        let client = try SluiceClient(endpoint: broker.commandEndpoint)
        defer { client.close() }
        do {
            try await client.send("task.create@v1", ["title": "x"])
            Issue.record("expected unauthenticated")
        } catch let error as WireError {
            #expect(error.code == .unauthenticated)
            #expect(error.message.contains("tokens/local.token"))
        }
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
