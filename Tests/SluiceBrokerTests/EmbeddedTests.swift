import Foundation
import Logging
import ServiceLifecycle
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A host application runs the broker inside its own process, as a swift-service-lifecycle
/// `Service`, and its worker threads talk to it over `inproc://` with the same protocol,
/// identities and capabilities as over ipc.
@Suite(.timeLimit(.minutes(2))) struct EmbeddedTests {
    static func client(_ broker: Broker, as identity: String) throws -> SluiceClient {
        var configuration = ClientConfiguration(endpoint: Broker.inprocEndpoint(for: identity))
        configuration.sharedContext = broker.context
        configuration.attemptTimeout = .seconds(10)
        return try SluiceClient(configuration: configuration)
    }

    @Test func workerThreadsReachAnEmbeddedBrokerOverInprocAsTheirIdentity() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginScaffold.create(id: "alpha", mode: .exclusiveSQLite, in: directory.path("sources")))
        var configuration = BrokerConfiguration(dataDirectory: data)
        configuration.contractDirectories = [Fixtures.tasksContracts]
        configuration.inprocIdentities = ["local", "alpha"]
        var logger = Logger(label: "embedded")
        logger.logLevel = .warning
        let broker = try Broker(configuration: configuration, logger: logger)
        // Started here, not by the service group's task: under a loaded cooperative pool that task
        // may run seconds later, and the clients' attempts would time out meanwhile.
        try broker.start()
        let group = ServiceGroup(services: [BrokerService(broker: broker)], logger: logger)
        let running = Task { try await group.run() }

        let local = try Self.client(broker, as: "local")
        let alpha = try Self.client(broker, as: "alpha")
        defer {
            local.close()
            alpha.close()
        }
        // The host (the operator) and a plugin thread, each as itself.
        let task = try await local.send("task.create@v1", ["title": "in process"], idempotencyKey: "t-1")
        #expect(try await local.query("task.list@v1").rows.count == 1)
        let item = try await alpha.send("alpha.item.create@v1", ["title": "mine"], idempotencyKey: "a-1")
        #expect(item.db == "alpha")
        #expect(task.db == "tasks")
        do {
            _ = try await alpha.send("task.create@v1", ["title": "not mine"], idempotencyKey: "a-2")
            Issue.record("alpha ran a contract it holds no capability for")
        } catch let error as WireError {
            #expect(error.code == .capabilityDenied)
        }
        // The same idempotency as anywhere: a retry is the stored answer.
        let again = try await alpha.send("alpha.item.create@v1", ["title": "mine"], idempotencyKey: "a-1")
        #expect(again.duplicate && again.seq == item.seq)
        let stats = try await alpha.stats()
        #expect(stats["actors"]?.objectMembers?.keys == ["alpha"])

        // The host's shutdown path: the service group drains the broker and returns.
        await group.triggerGracefulShutdown()
        try await running.value
        broker.wait()
    }
}
