import ArgumentParser
import Foundation
import SluiceBroker
import SluiceClient
import SluiceWire
import SluiceZMQ

/// `sluice-bench transport`: the same client work over ipc (PLAIN) and over loopback tcp (CURVE),
/// in one run, as ratios to ipc.
struct BenchTransport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "Round trips and pipelined commands over ipc (PLAIN), loopback tcp (CURVE) and inproc (embedded).",
        discussion: """
            One broker per transport, one SluiceClient in this process: --pings PINGs one at a time (round-trip \
            latency), then --commands inserts with 64 in flight (throughput, durable: synchronous=FULL). The broker, \
            the client and the encryption share the machine's cores.
            """
    )

    @Option(help: "PINGs, one at a time.")
    var pings = 5000

    @Option(help: "Commands, 64 in flight.")
    var commands = 20_000

    @Option(help: "Where to put the temporary data directories.")
    var scratch = "/tmp"

    struct Row {
        var transport: String
        var p50: Double
        var p99: Double
        var rate: Double
    }

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-transport-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        print("sluice-bench transport: \(pings) pings one at a time, \(commands) commands 64 in flight")
        var rows = [try await measure("ipc (PLAIN)", BenchBroker(in: root.appendingPathComponent("ipc")))]
        let tcp = (try LoopbackPort.endpoint(), try LoopbackPort.endpoint())
        rows.append(
            try await measure("tcp loopback (CURVE)", BenchBroker(in: root.appendingPathComponent("tcp"), endpoints: tcp)))
        rows.append(
            try await measure(
                "inproc (embedded broker)", BenchBroker(in: root.appendingPathComponent("inproc"), inproc: true),
                inproc: true))
        print("")
        print("| transport | ping p50 µs | ping p99 µs | × ipc p50 | commands/s | × ipc |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in rows {
            print(
                "| \(row.transport) | \(String(format: "%.0f", row.p50)) | \(String(format: "%.0f", row.p99)) | "
                    + "\(String(format: "%.2f×", row.p50 / rows[0].p50)) | \(String(format: "%.0f", row.rate)) | "
                    + "\(String(format: "%.2f×", row.rate / rows[0].rate)) |")
        }
    }

    private func measure(_ transport: String, _ bench: BenchBroker, inproc: Bool = false) async throws -> Row {
        // The client closes before the broker stops (an inproc client shares the broker's context).
        defer { bench.stop() }
        let client = try inproc ? bench.inprocClient() : bench.client()
        defer { client.close() }
        try await client.ping()
        var latencies: [Double] = []
        latencies.reserveCapacity(pings)
        let clock = ContinuousClock()
        for _ in 0..<pings {
            let started = clock.now
            try await client.ping()
            let elapsed = clock.now - started
            latencies.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        latencies.sort()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<64 {
                group.addTask {
                    for index in stride(from: lane, to: commands, by: 64) {
                        _ = try await client.send(
                            "bench.insert@v1", ["client": 0, "n": .int(Int64(index)), "payload": "x"],
                            idempotencyKey: "t-\(index)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = (clock.now - started) / .seconds(1)
        return Row(
            transport: transport, p50: latencies[latencies.count / 2], p99: latencies[latencies.count * 99 / 100],
            rate: Double(commands) / seconds)
    }
}
