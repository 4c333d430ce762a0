import Foundation
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// `/metrics` and `/health` over real HTTP from a running broker.
@Suite(.timeLimit(.minutes(2))) struct MetricsEndpointTests {
    /// One HTTP/1.1 GET on a fresh connection (`Connection: close`): status and body.
    static func get(port: UInt16, _ path: String) throws -> (status: Int, body: String) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw WireError(.internal, "socket") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw WireError(.internal, "connect to \(port): \(errno)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard write(descriptor, request, request.count) == request.count else { throw WireError(.internal, "write") }
        let response = String(decoding: Fixtures.readToEnd(descriptor), as: UTF8.self)
        let parts = response.components(separatedBy: "\r\n\r\n")
        let statusLine = parts.first?.split(separator: "\r\n").first ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// Sample lines of the exposition, `name{labels}` → value.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func metricsAndHealthAreServedOverHTTP() async throws {
        let broker = try RunningBroker()
        let endpoint = try MetricsEndpoint(address: "127.0.0.1:0", broker: broker.broker)
        let serving = Task { try await endpoint.run() }
        defer { serving.cancel() }
        // The server runs on Swift's cooperative threads (two here): wait generously, and keep
        // every blocking call of this test on a thread of its own so it never holds one of them.
        try await endpoint.waitUntilListening(timeout: 60)
        let port = try #require(await endpoint.boundPort())

        let (metrics, health, missing) = try await onDedicatedThread {
            let heartbeats = try broker.subscriber([Topic.heartbeat])
            let socket = try broker.socket(.req)
            for index in 0..<3 {
                let request = CommandRequest(
                    requestID: "m\(index)", contract: ContractID("task.create@v1")!, idempotencyKey: "m\(index)",
                    payload: ["title": "m"])
                _ = try #require(try socket.request(request.message()))
            }
            let unknown = CommandRequest(
                requestID: "u", contract: ContractID("task.nope@v1")!, idempotencyKey: "u", payload: [:])
            _ = try #require(try socket.request(unknown.message()))
            // Metrics are refreshed at each heartbeat, just before it is published: a heartbeat
            // that shows seq 3 for tasks was published after the three commits were counted.
            while let frames = try heartbeats.receive() {
                let event = try Event(frames: frames)
                if (event.body["streams"]?["tasks"]?["seq"]?.intValue ?? 0) >= 3 { break }
            }
            return (try Self.get(port: port, "/metrics"), try Self.get(port: port, "/health"),
                try Self.get(port: port, "/nothing"))
        }
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("# TYPE sluice_commands_committed_total counter"), "\(metrics.body)")
        let samples = Self.samples(metrics.body)
        #expect(samples["sluice_commands_committed_total"] == 3, "\(metrics.body)")
        #expect(samples["sluice_requests_rejected_total"] == 1, "\(metrics.body)")
        #expect(samples[#"sluice_actor_commands_total{actor="local"}"#] == 3, "\(metrics.body)")
        #expect(samples[#"sluice_db_last_seq{db="tasks"}"#] == 3, "\(metrics.body)")
        // Three commands, each awaited before the next: three transactions of one command each.
        #expect(samples[#"sluice_db_batches_total{db="tasks"}"#] == 3, "\(metrics.body)")
        #expect(samples[#"sluice_db_batched_commands_total{db="tasks"}"#] == 3, "\(metrics.body)")
        #expect(samples[#"sluice_actor_command_latency_seconds_count{actor="local"}"#] == 3, "\(metrics.body)")
        #expect(health.status == 200)
        #expect(health.body == #"{"status":"serving"}"#)
        #expect(missing.status == 404)

        broker.broker.shutdown()
        await broker.broker.stopped()
        let stopped = try await onDedicatedThread { try Self.get(port: port, "/health") }
        #expect(stopped.status == 503)
        #expect(stopped.body == #"{"status":"stopping"}"#)
    }

    @Test func aWrongAddressIsRefusedWithTheReason() throws {
        let broker = try RunningBroker()
        #expect(throws: BrokerStateError.self) { try MetricsEndpoint(address: "localhost", broker: broker.broker) }
        do {
            _ = try MetricsEndpoint(address: "my-host:9464", broker: broker.broker)
            Issue.record("a host name is not an IPv4 address")
        } catch let error as BrokerStateError {
            #expect(error.message.contains("not an IPv4 address"))
        }
    }
}
