import Foundation
import SluiceTestSupport
import SluiceZMQ
import Testing

/// examples/python-client, written from docs/protocol.md alone, against a real broker process:
/// the protocol document is complete enough to write a working client from.
@Suite(.timeLimit(.minutes(2))) struct PythonClientTests {
    @Test func thePythonExamplePassesAgainstARealBroker() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing())
        let script = Fixtures.repositoryRoot.appendingPathComponent("examples/python-client/client.py").path
        let (status, output) = try Fixtures.run("/usr/bin/env", ["python3", script, data.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("9 passed, 0 failed"), "\(output)")
    }

    /// The same client over tcp: CURVE with the keys the broker made in the data directory.
    @Test func thePythonExamplePassesOverTCPWithCURVE() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let endpoints = (try LoopbackPort.endpoint(), try LoopbackPort.endpoint())
        let broker = try BrokerProcess(dataDirectory: data, endpoints: endpoints)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing())
        let script = Fixtures.repositoryRoot.appendingPathComponent("examples/python-client/client.py").path
        let (status, output) = try Fixtures.run(
            "/usr/bin/env", ["python3", script, data.path, endpoints.0, endpoints.1])
        #expect(status == 0, "\(output)")
        #expect(output.contains("9 passed, 0 failed"), "\(output)")
    }
}
