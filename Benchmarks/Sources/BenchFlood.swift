import ArgumentParser
import Foundation
import SluiceBroker
import SluiceClient
import SluiceWire
import Synchronization

/// `sluice-bench flood`: one plugin's latency, alone and while another plugin floods the broker
/// past its rate limit.
struct BenchFlood: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood",
        abstract: "A steady plugin's command latency alone vs. during another plugin's flood (rate-limited).",
        discussion: """
            Installs two plugins: `steady` and `flood` (rate_per_second --rate). `steady` sends --commands commands \
            one at a time; in the second run `flood` sends as fast as 256 concurrent tasks can while it does. \
            Reports steady's p50/p99 in both runs and how much of the flood was refused.
            """
    )

    @Option(help: "Commands the steady plugin sends per run.") var commands = 1000
    @Option(help: "The flooding plugin's rate_per_second.") var rate = 100
    @Option(help: "Where to put the temporary data directory.") var scratch = "/tmp"

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-flood-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let catalog = PluginCatalog(dataDirectory: root.appendingPathComponent("data"))
        for (id, limits) in [("steady", [:] as [String: JSONValue]), ("flood", ["rate_per_second": .int(Int64(rate))])]
        {
            let folder = root.appendingPathComponent("plugins/\(id)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let manifest: JSONValue = [
                "id": .string(id), "version": "1", "capabilities": ["bench:write"], "database": ["mode": "shared"],
                "limits": .object(limits),
            ]
            try manifest.canonicalString.write(
                to: folder.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
            try catalog.install(from: folder)
        }
        let bench = try BenchBroker(in: root)
        defer { bench.stop() }
        func client(_ id: String) throws -> SluiceClient {
            let token = try TokenStore(dataDirectory: bench.configuration.dataDirectory).ensureToken(for: id)
            return try SluiceClient(
                endpoint: bench.configuration.commandEndpoint, credentials: ClientCredentials(name: id, token: token))
        }
        let steady = try client("steady")
        let flood = try client("flood")
        defer {
            steady.close()
            flood.close()
        }

        func steadyRun(_ label: String) async throws -> [Double] {
            let clock = ContinuousClock()
            var latencies: [Double] = []
            for n in 0..<commands {
                let started = clock.now
                try await steady.send(
                    "bench.insert@v1", ["client": 1, "n": .int(Int64(n)), "payload": .string(label)],
                    idempotencyKey: "\(label)-\(n)"
                )
                let elapsed = started.duration(to: clock.now)
                latencies.append(
                    Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
            }
            return latencies
        }
        let alone = try await steadyRun("alone")

        let tally = FloodTally()
        let flooding = Task { [flood] in
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<256 {
                    group.addTask {
                        var n = 0
                        while !Task.isCancelled {
                            do {
                                try await flood.send(
                                    "bench.insert@v1", ["client": 2, "n": .int(Int64(n)), "payload": "flood"],
                                    idempotencyKey: "flood-\(lane)-\(n)")
                                tally.accepted.add(1, ordering: .relaxed)
                            } catch {
                                tally.refused.add(1, ordering: .relaxed)
                            }
                            n += 1
                        }
                    }
                }
            }
        }
        let during = try await steadyRun("during")
        flooding.cancel()
        await flooding.value

        func percentile(_ samples: [Double], _ fraction: Double) -> Double {
            let sorted = samples.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] / 1000
        }
        print(
            "sluice-bench flood: steady plugin, \(commands) commands one at a time; flood plugin limited to \(rate)/s")
        print("")
        print("| steady plugin | p50 ms | p99 ms |")
        print("| --- | ---: | ---: |")
        print(
            "| alone | \(String(format: "%.2f", percentile(alone, 0.5))) | \(String(format: "%.2f", percentile(alone, 0.99))) |"
        )
        print(
            "| during the flood | \(String(format: "%.2f", percentile(during, 0.5))) | \(String(format: "%.2f", percentile(during, 0.99))) |"
        )
        print("")
        print(
            "p99 during / alone: \(String(format: "%.2f×", percentile(during, 0.99) / percentile(alone, 0.99))); flood: "
                + "\(tally.accepted.load(ordering: .relaxed)) accepted, \(tally.refused.load(ordering: .relaxed)) refused (rate_limited)"
        )
    }
}

/// What the flooding plugin's calls got.
final class FloodTally: Sendable {
    let accepted = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
}
