import Foundation
import Logging
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Synchronization
import Testing

/// The caller's context (traceparent, tenant) reaches the broker's logs, as structured metadata.
@Suite struct LogContextTests {
    final class CapturedLogs: Sendable {
        let records = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
    }

    struct CapturingHandler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            merged.merge(event.metadata ?? [:]) { $1 }
            logs.records.withLock { $0.append((event.level, "\(event.message)", merged)) }
        }
    }

    @Test func answersAndRefusalsAreLoggedWithTheCallersContext() async throws {
        let directory = TemporaryDirectory()
        var configuration = BrokerConfiguration(dataDirectory: directory.path("data"))
        configuration.contractDirectories = [Fixtures.tasksContracts]
        let logs = CapturedLogs()
        var logger = Logger(label: "sluice.test") { _ in CapturingHandler(logs: logs) }
        logger.logLevel = .trace
        let broker = try Broker(configuration: configuration, logger: logger)
        try broker.start()
        defer {
            broker.shutdown()
            broker.wait()
        }
        let client = try SluiceClient(
            endpoint: configuration.commandEndpoint,
            credentials: .operator(dataDirectory: configuration.dataDirectory))
        defer { client.close() }
        let context = CallerContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tenant: "acme")
        let ack = try await client.send("task.create@v1", ["title": "traced"], context: context)
        await #expect(throws: WireError.self) { try await client.send("task.nope@v1", [:], context: context) }

        // Logged before each answer left the broker: no waiting needed.
        let records = logs.records.withLock { $0 }
        let answered = try #require(records.first { $0.message == "command answered" })
        #expect(answered.metadata["traceparent"] == "\(context.traceparent!)")
        #expect(answered.metadata["tenant"] == "acme")
        #expect(answered.metadata["seq"] == "\(ack.seq)")
        #expect(answered.metadata["actor"] == "local")
        let refused = try #require(records.first { $0.message == "request refused" })
        #expect(refused.metadata["traceparent"] == "\(context.traceparent!)")
        #expect(refused.metadata["code"] == "unknown_contract")
    }
}
