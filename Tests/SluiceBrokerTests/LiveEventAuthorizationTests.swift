import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// The event socket authenticates like the request socket, and each subscriber receives only the
/// topics its identity may read (`alpha`: shared, `audit:tasks:read`; `beta`: exclusive database).
@Suite(.timeLimit(.minutes(2))) struct LiveEventAuthorizationTests {
    static func credentials(_ broker: RunningBroker, _ name: String) throws -> ClientCredentials {
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: name))
        return ClientCredentials(name: name, token: token)
    }

    /// A subscriber known to be connected and granted: it has received a heartbeat, which every
    /// authenticated identity may receive and which it subscribed to after `prefixes`.
    static func subscriber(_ broker: RunningBroker, as name: String, _ prefixes: [String]) throws -> RawSocket {
        let socket = try broker.subscriber(prefixes + [Topic.heartbeat], credentials: try credentials(broker, name))
        while let frames = try socket.receive(), frames.first != frame("hb") {}
        return socket
    }

    /// Every topic `socket` receives until the heartbeat numbered `seq` (or later).
    static func topics(_ socket: RawSocket, untilHeartbeat seq: Int64) throws -> Set<String> {
        var topics: Set<String> = []
        while let frames = try socket.receive() {
            let event = try Event(frames: frames)
            if event.topic == Topic.heartbeat {
                if event.seq >= seq { return topics }
                continue
            }
            topics.insert(event.topic)
        }
        Issue.record("no heartbeat \(seq) within the receive timeout")
        return topics
    }

    @Test func eachSubscriberReceivesOnlyTheTopicsItMayRead() async throws {
        let broker = try AuthorizationTests.broker()
        let everything = try Self.subscriber(broker, as: "local", [""])
        let alpha = try Self.subscriber(broker, as: "alpha", [""])
        let beta = try Self.subscriber(broker, as: "beta", ["audit.", "inval.beta", "audit.rejected", "inval.tasks"])

        // One event on every stream: tasks (operator), plugins (alpha), beta, and a refusal.
        let local = try broker.client()
        let alphaClient = try PluginTests.client(broker, as: "alpha")
        let betaClient = try PluginTests.client(broker, as: "beta")
        defer {
            local.close()
            alphaClient.close()
            betaClient.close()
        }
        try await local.send("task.create@v1", ["title": "t"], idempotencyKey: "t")
        _ = try await alphaClient.send("alpha.item.create@v1", ["title": "a"], idempotencyKey: "a")
        _ = try await betaClient.send("beta.item.create@v1", ["title": "b"], idempotencyKey: "b")
        await #expect(throws: WireError.self) { try await betaClient.send("task.create@v1", ["title": "no"]) }

        // The operator sees them all; the heartbeat after the last one is the barrier for the others
        // (one socket delivers in publish order).
        var seen: Set<String> = []
        var barrier: Int64?
        while barrier == nil, let frames = try everything.receive() {
            let event = try Event(frames: frames)
            if event.topic == Topic.heartbeat {
                if seen.contains(Topic.rejected) && seen.count >= 7 { barrier = event.seq }
            } else {
                seen.insert(event.topic)
            }
        }
        #expect(seen == ["audit.tasks", "inval.tasks", "audit.plugins", "inval.plugins", "audit.beta", "inval.beta", "audit.rejected"])
        let until = try #require(barrier)
        // alpha asked for everything: it gets what audit:tasks:read grants, not its shared
        // database's streams (every shared plugin's commands), not beta's, not the refusals.
        #expect(try Self.topics(alpha, untilHeartbeat: until) == ["audit.tasks", "inval.tasks"])
        // beta's "audit." becomes audit.beta; inval.tasks and audit.rejected grant nothing.
        #expect(try Self.topics(beta, untilHeartbeat: until) == ["audit.beta", "inval.beta"])

        let stats = try #require(try broker.socket(.req).request(WireMessage(kind: .stats, header: ["request_id": "s"])))
        #expect(stats.body["subscriptions_refused"] == 2, "beta's audit.rejected and inval.tasks")
    }

    @Test(arguments: [("wrong-token", true), ("no-credentials", false)])
    func aSubscriberWithoutValidCredentialsIsRefusedAtTheHandshake(_ label: String, _ presents: Bool) throws {
        let broker = try AuthorizationTests.broker()
        let credentials = presents ? ClientCredentials(name: "alpha", token: "not-alphas-token") : nil
        let socket = try RawSocket(
            .sub, endpoint: broker.eventEndpoint, credentials: credentials, receiveTimeoutMs: 10_000,
            watchHandshakes: true, reconnect: false)
        try socket.socket.subscribe("")
        let handshake = try #require(try socket.nextHandshake())
        // Refused before any message: a connection that never completes its handshake carries no
        // event (and, with reconnection off, none is tried again).
        if presents {
            #expect(handshake.kind == .handshakeFailedAuth, "\(label)")
        } else {
            // Without credentials there is no mechanism in common: libzmq reports the failure as
            // no-detail or protocol, or just the closed connection.
            #expect(
                [.handshakeFailedNoDetail, .handshakeFailedProtocol, .disconnected].contains(handshake.kind), "\(label)")
        }
    }
}
