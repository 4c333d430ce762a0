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
        // Wait until it serves.
        let probe = try broker.socket(.req, receiveTimeoutMs: 200)
        var served = false
        for _ in 0..<50 where !served {
            try probe.send([frame("SLU1"), frame("PING"), frame("{}"), frame("{}")])
            served = try probe.receive() != nil
            if !served { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(served)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Fixtures.repositoryRoot.appendingPathComponent("examples/python-client/client.py").path,
            data.path,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("9 passed, 0 failed"), "\(output)")
    }
}
