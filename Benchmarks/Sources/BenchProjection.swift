import ArgumentParser
import Foundation
import SluiceBroker
import SluiceClient
import SluiceWire

/// `sluice-bench projection`: what keeping a projection fresh costs the source's writes, measured
/// against the same load on a broker without one, in one run.
struct BenchProjection: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projection",
        abstract: "The cost of a projection per source commit: the same write load with and without one.",
        discussion: """
            Baseline: --clients client processes each sending --commands inserts with --window in flight to a broker \
            without projections. Then the same load on a broker with projection `recent` (the newest --rows rows of \
            the written table, copied into a plugin database after every commit that changes it), once per --rows \
            value. Reports commands/s against the baseline, broker CPU per command, how many refreshes ran (requests \
            that arrive during a refresh merge) and the extra broker CPU per refresh.
            """
    )

    @Option(help: "Client processes.")
    var clients = 8

    @Option(help: "Commands per client.")
    var commands = 2000

    @Option(help: "In-flight commands per client.")
    var window = 64

    @Option(parsing: .upToNextOption, help: "Projection sizes (rows); one broker run per value.")
    var rows: [Int] = [10, 100, 1000]

    @Option(help: "Who drives the broker: swift (SluiceClient processes) or c (Benchmarks/loadgen.c).")
    var loadGenerator = "swift"

    @Option(help: "The compiled C load generator (make bench builds it).")
    var loadgenPath = ".build/loadgen"

    @Option(help: "Where to put the temporary data directories.")
    var scratch = "/tmp"

    struct Run {
        var label: String
        var result: BenchResult
        var refreshes: Int64?
        /// Time the target's writer spent refreshing (read, delete, insert), in microseconds.
        var refreshMicros: Int64?
    }

    func run() async throws {
        guard loadGenerator == "swift" || loadGenerator == "c" else {
            throw ValidationError("--load-generator takes swift or c, not \(loadGenerator)")
        }
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-projection-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        print("sluice-bench projection: \(clients) clients × \(commands) commands, window \(window), FULL")
        var runs = [try await brokerRun(root.appendingPathComponent("none"), projectionRows: nil)]
        for size in rows {
            runs.append(try await brokerRun(root.appendingPathComponent("rows-\(size)"), projectionRows: size))
        }
        let baseline = runs[0]
        let baselineCPU = (baseline.result.serverCPU ?? 0) / Double(baseline.result.samples.count)
        print("")
        print(
            "| broker | commands/s | × no projection | broker CPU µs/cmd | refreshes | commands per refresh | µs per refresh (writer) | extra broker CPU µs per refresh |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for run in runs {
            let count = Double(run.result.samples.count)
            let cpu = (run.result.serverCPU ?? 0) / count
            var cells = [
                run.label, String(format: "%.0f", run.result.rate),
                String(format: "%.2f×", run.result.rate / baseline.result.rate), String(format: "%.1f", cpu * 1e6),
            ]
            if let refreshes = run.refreshes, refreshes > 0 {
                cells += [
                    "\(refreshes)", String(format: "%.1f", count / Double(refreshes)),
                    String(format: "%.0f", Double(run.refreshMicros ?? 0) / Double(refreshes)),
                    String(format: "%.0f", (cpu - baselineCPU) * count * 1e6 / Double(refreshes)),
                ]
            } else {
                cells += ["–", "–", "–", "–"]
            }
            print("| " + cells.joined(separator: " | ") + " |")
        }
    }

    private func brokerRun(_ directory: URL, projectionRows: Int?) async throws -> Run {
        let bench = try BenchBroker(in: directory, projectionRows: projectionRows)
        defer { bench.stop() }
        let (samples, seconds, brokerCPU, clientCPU, _) = try bench.drive(
            clients: clients, commands: commands, window: window, generator: loadGenerator, loadgenPath: loadgenPath)
        var refreshes: Int64?
        var refreshMicros: Int64?
        if projectionRows != nil {
            // The last refresh may still be running: wait for it (a query at the last seq), then
            // read the counters.
            let client = try bench.client()
            defer { client.close() }
            _ = try await client.query("viewer.recent@v1", deadlineMs: 60_000, minSourceSeq: Int64(samples.count))
            let counters = try await client.stats()["projections"]?["recent"]
            refreshes = counters?["refreshes"]?.intValue
            refreshMicros = counters?["refresh_us_sum"]?.intValue
        }
        let label = projectionRows.map { "projection of \($0) rows" } ?? "no projection"
        return Run(
            label: label,
            result: BenchResult(
                path: label, processes: clients, window: window, samples: samples, seconds: seconds,
                serverCPU: brokerCPU, clientCPU: clientCPU),
            refreshes: refreshes, refreshMicros: refreshMicros)
    }
}
