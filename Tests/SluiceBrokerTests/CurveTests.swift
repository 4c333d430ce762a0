import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// tcp endpoints speak CURVE: real sockets on loopback, an identity is the public key registered
/// for it, and everything else is refused at the handshake.
@Suite(.timeLimit(.minutes(2))) struct CurveTests {
    /// A broker on two loopback tcp endpoints with plugins `alpha` and `beta` installed (each with
    /// a database of its own), each with a registered key pair.
    struct Setup {
        let broker: RunningBroker
        let keys: [String: ZMQCurve.KeyPair]

        var serverKey: String { broker.broker.curveKeyPair!.publicKey }

        func credentials(_ name: String, keys pair: ZMQCurve.KeyPair? = nil) -> ClientCredentials {
            let pair = pair ?? keys[name]!
            return ClientCredentials(
                name: name,
                curve: CurveCredentials(
                    serverPublicKey: serverKey, publicKey: pair.publicKey, secretKey: pair.secretKey))
        }

        func client(_ credentials: ClientCredentials, events: Bool = false) throws -> SluiceClient {
            var configuration = ClientConfiguration(
                endpoint: broker.commandEndpoint, eventEndpoint: events ? broker.eventEndpoint : nil,
                credentials: credentials)
            configuration.attemptTimeout = .seconds(10)
            return try SluiceClient(configuration: configuration)
        }
    }

    static func setUp() throws -> Setup {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        var keys: [String: ZMQCurve.KeyPair] = [:]
        for id in ["alpha", "beta"] {
            try PluginCatalog(dataDirectory: data).install(
                from: try PluginScaffold.create(id: id, mode: .exclusiveSQLite, in: directory.path("sources")))
            let pair = try ZMQCurve.generateKeyPair()
            try CurveKeyStore(dataDirectory: data).add(id: id, publicKey: pair.publicKey)
            keys[id] = pair
        }
        let commands = try LoopbackPort.endpoint()
        let events = try LoopbackPort.endpoint()
        let broker = try RunningBroker(directory: directory) {
            $0.commandEndpoint = commands
            $0.eventEndpoint = events
        }
        return Setup(broker: broker, keys: keys)
    }

    @Test func aCommandAQueryAndASubscriptionRoundTripOverCURVE() async throws {
        let setup = try Self.setUp()
        defer { setup.broker.stop() }
        // The operator on the broker's host: `.operator` reads its CURVE keys from the data directory.
        let local = try setup.client(try setup.broker.operatorCredentials(), events: true)
        defer { local.close() }
        let events = local.events(topic: "audit.tasks")
        _ = try await local.ping()
        let ack = try await local.send("task.create@v1", ["title": "over tcp"], idempotencyKey: "tcp-1")
        let rows = try await local.query("task.list@v1")
        #expect(rows.rows.map { $0[1] } == ["over tcp"])
        for try await event in events {
            #expect(event.seq == ack.seq)
            #expect(event.body["contract"] == "task.create@v1")
            break
        }
        let alpha = try setup.client(setup.credentials("alpha"))
        defer { alpha.close() }
        let alphaAck = try await alpha.send("alpha.item.create@v1", ["title": "mine"], idempotencyKey: "a-1")
        #expect(alphaAck.db == "alpha")
    }

    @Test func aKeyActsAsTheIdentityItIsRegisteredFor() async throws {
        let setup = try Self.setUp()
        defer { setup.broker.stop() }
        // The name in the credentials is only a label: the broker goes by the key.
        let alphaKeyNamedBeta = try setup.client(setup.credentials("beta", keys: setup.keys["alpha"]))
        defer { alphaKeyNamedBeta.close() }
        let ack = try await alphaKeyNamedBeta.send("alpha.item.create@v1", ["title": "a"], idempotencyKey: "k")
        #expect(ack.db == "alpha")
        do {
            _ = try await alphaKeyNamedBeta.send("beta.item.create@v1", ["title": "b"], idempotencyKey: "k2")
            Issue.record("alpha's key ran beta's contract")
        } catch let error as WireError {
            #expect(error.code == .capabilityDenied)
        }
        let stats = try await alphaKeyNamedBeta.stats()
        #expect(stats["actors"]?.objectMembers?.keys == ["alpha"])
    }

    @Test func anUnregisteredKeyIsRefusedAtTheHandshakeAndAudited() async throws {
        let setup = try Self.setUp()
        defer { setup.broker.stop() }
        let watcher = try setup.broker.rejectionWatcher()
        let stranger = try setup.client(setup.credentials("stranger", keys: try ZMQCurve.generateKeyPair()))
        defer { stranger.close() }
        do {
            _ = try await stranger.send("task.create@v1", ["title": "no"], idempotencyKey: "x")
            Issue.record("an unregistered key was served")
        } catch let error as SluiceClientError {
            #expect(error.code == .credentialsRefused)
        }
        let record = try #require(try IdentityTests.nextHandshakeRefusal(watcher))
        #expect(record["name"] == "unregistered CURVE key")
        #expect(try TasksDatabase.count(setup.broker.open(), "SELECT count(*) FROM tasks") == 0)
    }

    @Test func aRevokedKeyIsRefusedOnItsNextConnection() async throws {
        let setup = try Self.setUp()
        defer { setup.broker.stop() }
        let store = setup.broker.broker.curveKeys
        let first = try setup.client(setup.credentials("alpha"))
        defer { first.close() }
        _ = try await first.send("alpha.item.create@v1", ["title": "before"], idempotencyKey: "r-1")

        try store.revoke(id: "alpha")
        // The connection that is still open is refused from its next request on.
        do {
            _ = try await first.send("alpha.item.create@v1", ["title": "still open"], idempotencyKey: "r-3")
            Issue.record("an open connection of a revoked key was served")
        } catch let error as WireError {
            #expect(error.code == .unauthenticated)
        }
        let log = try String(
            contentsOf: store.directory.appendingPathComponent("revocations.log"), encoding: .utf8)
        #expect(log.contains("\"id\":\"alpha\""))
        #expect(store.list().first { $0.id == "alpha" }?.revokedAtMs != nil)

        let watcher = try setup.broker.rejectionWatcher()
        let again = try setup.client(setup.credentials("alpha"))
        defer { again.close() }
        do {
            _ = try await again.send("alpha.item.create@v1", ["title": "after"], idempotencyKey: "r-2")
            Issue.record("a revoked key was served")
        } catch let error as SluiceClientError {
            #expect(error.code == .credentialsRefused)
        }
        let record = try #require(try IdentityTests.nextHandshakeRefusal(watcher))
        #expect(record["name"] == "revoked key of alpha")
        // A revoked key cannot be registered again, for anyone.
        #expect(throws: CurveKeyStore.Refusal.self) {
            try store.add(id: "beta-2", publicKey: setup.keys["alpha"]!.publicKey)
        }
    }

    @Test func plaintextAndPLAINClientsAreRefusedOnTCP() async throws {
        let setup = try Self.setUp()
        defer { setup.broker.stop() }
        let token = try #require(TokenStore(dataDirectory: setup.broker.broker.configuration.dataDirectory).token(for: "local"))
        // PLAIN with the operator's valid token, and no mechanism at all: both fail the handshake.
        for credentials in [ClientCredentials(name: "local", token: token), nil] {
            let socket = try RawSocket(
                .dealer, endpoint: setup.broker.commandEndpoint, credentials: credentials, watchHandshakes: true,
                reconnect: false)
            let handshake = try #require(try socket.nextHandshake())
            // libzmq reports a mechanism mismatch as a protocol failure or without detail.
            #expect([.handshakeFailedProtocol, .handshakeFailedNoDetail].contains(handshake.kind), "\(handshake.kind)")
        }
        // And the Swift client without keys is told why at once, instead of timing out.
        let keyless = try setup.client(ClientCredentials(name: "local", token: token))
        defer { keyless.close() }
        do {
            try await keyless.ping()
            Issue.record("a client without CURVE keys was served on tcp")
        } catch let error as SluiceClientError {
            #expect(error.code == .credentialsRefused)
            #expect(error.message.contains("no CURVE keys"))
        }
        let stats = try #require(
            try RawSocket(
                .req, endpoint: setup.broker.commandEndpoint, credentials: try setup.broker.operatorCredentials()
            ).request(WireMessage(kind: .stats, header: ["request_id": "s"])))
        #expect(stats.body["received"] == 1, "only this STATS request reached the broker")
    }

    @Test func eventsOverCURVEReachOnlyTheTopicsTheKeysIdentityMayRead() async throws {
        let setup = try Self.setUp()
        defer { setup.broker.stop() }
        let alpha = try RawSocket(
            .sub, endpoint: setup.broker.eventEndpoint, credentials: setup.credentials("alpha"))
        try alpha.socket.subscribe("")
        while let frames = try alpha.receive(), frames.first != frame("hb") {}
        let local = try setup.client(try setup.broker.operatorCredentials())
        let alphaClient = try setup.client(setup.credentials("alpha"))
        defer {
            local.close()
            alphaClient.close()
        }
        // An event alpha may not read (tasks), then one it may (its own database's).
        try await local.send("task.create@v1", ["title": "t"], idempotencyKey: "t")
        let ack = try await alphaClient.send("alpha.item.create@v1", ["title": "a"], idempotencyKey: "a")
        var topics: [String] = []
        while let frames = try alpha.receive() {
            let event = try Event(frames: frames)
            if event.topic == Topic.heartbeat { continue }
            topics.append(event.topic)
            if event.stream == "alpha", event.seq == ack.seq { break }
        }
        #expect(!topics.isEmpty)
        #expect(topics.allSatisfy { $0 == "audit.alpha" || $0 == "inval.alpha" }, "\(topics)")
    }

    /// The CLI as an operator uses it: `sluice serve` on tcp, the operator's `sluice send` with the
    /// keys it finds in the data directory, `sluice keys generate | add | list | revoke` for a
    /// plugin on another host, and `--insecure-tcp`.
    @Test func theCommandLineServesAndReachesTCPWithKeys() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginScaffold.create(id: "alpha", mode: .exclusiveSQLite, in: directory.path("sources")))
        let endpoints = (try LoopbackPort.endpoint(), try LoopbackPort.endpoint())
        let broker = try BrokerProcess(dataDirectory: data, endpoints: endpoints)
        #expect(try broker.waitUntilServing(), "\(broker.output)")
        let tcp = ["--data-dir", data.path, "--endpoint", endpoints.0, "--events-endpoint", endpoints.1]

        let operatorSend = try Fixtures.run("sluice", ["send", "task.create@v1", #"{"title": "cli"}"#] + tcp)
        #expect(operatorSend.status == 0, "\(operatorSend.output)")

        // A plugin host elsewhere makes its key pair; the operator registers the public half.
        let keyFile = directory.path("alpha.key").path
        let generated = try Fixtures.run("sluice", ["keys", "generate", "--out", keyFile])
        #expect(generated.status == 0)
        let publicKey = generated.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ZMQCurve.decode(publicKey) != nil)
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(!publicKey.hasPrefix("-"), "generated keys never start with '-' (it would read as an option)")
        #expect(try Fixtures.run("sluice", ["keys", "add", "alpha", publicKey, "--data-dir", data.path]).status == 0)
        let again = try Fixtures.run("sluice", ["keys", "add", "--data-dir", data.path, "alpha", "--", publicKey])
        #expect(again.status != 0 && again.output.contains("already"), "\(again.output)")
        let list = try Fixtures.run("sluice", ["keys", "list", "--json", "--data-dir", data.path])
        #expect(list.output.contains(publicKey) && list.output.contains("(broker)"), "\(list.output)")

        let serverKey = try ZMQCurve.readKeyFile(data.appendingPathComponent("curve/broker.key")).publicKey
        let asAlpha = tcp + ["--user", "alpha", "--key-file", keyFile, "--server-key", serverKey]
        let alphaSend = try Fixtures.run(
            "sluice", ["send", "alpha.item.create@v1", #"{"title": "remote"}"#, "--key", "a-1"] + asAlpha)
        #expect(alphaSend.status == 0, "\(alphaSend.output)")

        #expect(try Fixtures.run("sluice", ["keys", "revoke", "alpha", "--data-dir", data.path]).status == 0)
        let refused = try Fixtures.run(
            "sluice", ["send", "alpha.item.create@v1", #"{"title": "revoked"}"#, "--key", "a-2"] + asAlpha)
        #expect(refused.status == 3, "\(refused.output)")
        #expect(broker.terminate() == 0)

        // --insecure-tcp: served with a warning; a connection without keys is `anonymous`.
        let insecure = try BrokerProcess(
            dataDirectory: data, endpoints: (try LoopbackPort.endpoint(), try LoopbackPort.endpoint()),
            extraArguments: ["--insecure-tcp", "--log-level", "warning"])
        let anonymous = try RawSocket(.dealer, endpoint: insecure.commandEndpoint, receiveTimeoutMs: 10_000)
        let welcome = try #require(try anonymous.request(WireMessage(kind: .hello, header: ["request_id": "h"], body: [:])))
        #expect(welcome.body["actor"] == "anonymous")
        let denied = try #require(
            try anonymous.request(
                CommandRequest(requestID: "c", contract: ContractID("task.create@v1")!, idempotencyKey: "k", payload: ["title": "x"])
                    .message()))
        #expect(denied.kind == .error)
        #expect(denied.body["code"] == "capability_denied")
        #expect(insecure.terminate() == 0)
        #expect(insecure.output.contains("--insecure-tcp"))
    }
}
