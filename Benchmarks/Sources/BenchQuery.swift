import ArgumentParser
import Foundation
import Logging
import SluiceBroker
import SluiceClient
import SluiceWire

/// `sluice-bench query`: a hot query from many clients, through the broker with and without its
/// cache, against the same query run by the same number of processes straight on SQLite.
struct BenchQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Queries/s for one hot query: broker with cache, broker without cache, direct SQLite reads.",
        discussion: """
            Fills a table with --rows rows, then runs --clients processes of --queries queries each: through the \
            broker with --window queries in flight per process (cache on: bench.hot@v1, a 60 s TTL; cache off: \
            bench.cold@v1, the same SQL), and directly on the database file (one read at a time per process).
            """
    )

    @Option(help: "Processes.") var clients = 8
    @Option(help: "In-flight queries per broker client process (clients × window concurrent queries).") var window = 8
    @Option(help: "Queries per process.") var queries = 2000
    @Option(help: "Rows in the queried table.") var rows = 2000
    @Option(help: "Where to put the temporary data directory.") var scratch = "/tmp"

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-query-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let bench = try BenchBroker(in: root)
        defer { bench.stop() }
        let configuration = bench.configuration
        let token = bench.token
        let client = try bench.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<64 {
                group.addTask {
                    for n in stride(from: lane, to: rows, by: 64) {
                        try await client.send(
                            "bench.insert@v1",
                            [
                                "client": .int(Int64(n % 16)), "n": .int(Int64(n)),
                                "payload": .string(BenchWorker.payload(0, n)),
                            ]
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        client.close()

        print("sluice-bench query: \(clients) processes × \(queries) queries, \(rows) rows, grouped count")
        let database = configuration.dataDirectory.appendingPathComponent("bench.db").path
        var results: [BenchResult] = []
        let direct = try spawnBenchWorkers(clients) { index in
            [
                "worker", "--mode", "direct-query", "--target", database, "--id", "\(index)", "--commands",
                "\(queries)",
            ]
        }
        results.append(
            BenchResult(
                path: "direct SQLite reads", processes: clients, window: 1, samples: direct.samples,
                seconds: direct.seconds, serverCPU: nil, clientCPU: 0))
        for (label, contract) in [
            ("broker, cache on", "bench.hot@v1"), ("broker, cache on, reads not audited", "bench.hotquiet@v1"),
            ("broker, cache off", "bench.cold@v1"), ("broker, cache off, reads not audited", "bench.coldquiet@v1"),
        ] {
            let run = try spawnBenchWorkers(clients) { index in
                [
                    "worker", "--mode", "query", "--contract", contract, "--target",
                    configuration.commandEndpoint, "--id",
                    "\(index)", "--commands", "\(queries)", "--window", "\(window)", "--token", token,
                ]
            }
            results.append(
                BenchResult(
                    path: label, processes: clients, window: window, samples: run.samples, seconds: run.seconds,
                    serverCPU: nil, clientCPU: 0))
        }
        print("")
        print(
            "| path | processes | in flight per process | queries | seconds | queries/s | p50 ms | p99 ms | × direct |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for result in results {
            let cells = [
                result.path, "\(result.processes)", "\(result.window)", "\(result.samples.count)",
                String(format: "%.2f", result.seconds),
                String(format: "%.0f", result.rate), String(format: "%.2f", result.percentile(0.5)),
                String(format: "%.2f", result.percentile(0.99)), String(format: "%.2f×", result.rate / results[0].rate),
            ]
            print("| " + cells.joined(separator: " | ") + " |")
        }
    }
}
