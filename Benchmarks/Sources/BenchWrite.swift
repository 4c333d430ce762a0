import ArgumentParser
import Foundation
import Logging
import SluiceBroker
import SluiceClient
import SluiceWire

/// `sluice-bench write`: N processes writing one SQLite file directly vs. N client processes
/// sending the same rows through a broker, in one run.
struct BenchWrite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write",
        abstract: "Durable writes/s and latency: direct SQLite writers vs. clients of a broker.",
        discussion: """
            Baseline: --clients processes each committing --commands single-row transactions straight into one \
            WAL file (BEGIN IMMEDIATE, busy_timeout 60 s, synchronous=FULL) — what plugins do without a broker. \
            Broker: the same number of client processes sending the same rows as commands over ipc to one broker \
            (synchronous=FULL unless --synchronous says otherwise, group commit); each command is acknowledged only \
            after its COMMIT. Each client keeps --window commands in flight (1 = strictly one at a time, like the \
            direct writers).
            """
    )

    @Option(help: "Concurrent writer processes (baseline) and client processes (broker).")
    var clients = 8

    @Option(help: "Commands per process.")
    var commands = 2000

    @Option(parsing: .upToNextOption, help: "In-flight commands per broker client; one broker run per value.")
    var window: [Int] = [1, 64]

    @Option(
        parsing: .upToNextOption,
        help: "The broker's synchronous level (full, normal); one broker run per value and window.")
    var synchronous: [String] = ["full"]

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Who drives the broker: swift (SluiceClient processes), swift-blocking (SluiceConnection processes), c (Benchmarks/loadgen.c); one run per value.",
            discussion:
                "The C generator costs a few µs per command, so the broker's own cost shows; swift-blocking is the Swift client without its socket thread."
        ))
    var loadGenerator: [String] = ["swift"]

    @Option(
        parsing: .upToNextOption,
        help: "The broker's largest batch (serve --max-batch); one broker run per value.")
    var maxBatch: [Int] = [BrokerConfiguration.defaultMaxBatchSize]

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Who listens to the command events: subscribed (one process subscribed to every audit and invalidation event), none (nobody: the broker does not encode them); one broker run per value.",
            discussion: "The broker encodes and publishes a command's events only once a subscription can receive them."))
    var events: [String] = ["subscribed", "none"]

    @Option(
        help: ArgumentHelp(
            "The commands' idempotency keys: time-ordered (UUIDv7-shaped, as the clients make them by default), random (UUID-shaped, spread over the key space as random UUIDs are) or sequential (bench-<client>-<n>, the keys of the rounds before 2026-12-01).",
            discussion: "The ceiling writes the same kind of keys. Where a key falls in the ledger's index decides what each commit writes."))
    var keys = BenchKeys.timeOrdered

    @Option(help: "The compiled C load generator (make bench builds it).")
    var loadgenPath = ".build/loadgen"

    @Option(help: "The compiled C ceiling program (make bench builds it); without it the ceiling runs through GRDB.")
    var ceilingPath = ".build/ceiling"

    @Option(help: "Where to put the temporary data directories.")
    var scratch = "/tmp"

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "The databases to measure: sqlite (direct writers, the ceiling, the broker), postgres (pgbench with the same rows and the broker's exclusive-postgres path, C clients, on a throwaway cluster).",
            discussion: "postgres needs Debian's postgresql package (initdb, pg_ctl, pgbench)."))
    var database: [String] = ["sqlite"]

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }

        let modes = try synchronous.map { name in
            guard let mode = SynchronousMode(rawValue: name) else {
                throw ValidationError("--synchronous takes full or normal, not \(name)")
            }
            return mode
        }
        for name in database where name != "sqlite" && name != "postgres" {
            throw ValidationError("--database takes sqlite or postgres, not \(name)")
        }
        for name in events where name != "subscribed" && name != "none" {
            throw ValidationError("--events takes subscribed or none, not \(name)")
        }
        print("sluice-bench write: \(clients) processes × \(commands) commands, \(keys.rawValue) idempotency keys")
        if database.contains("postgres") {
            BenchPostgres.print(
                try await BenchPostgres.run(
                    clients: clients, commands: commands, windows: window, loadgenPath: loadgenPath, root: root))
        }
        guard database.contains("sqlite") else { return }
        print("")
        print("SQLite (WAL; direct writers synchronous=FULL):")
        Self.announce("direct writers: \(clients) processes")
        let direct = try directBaseline(root.appendingPathComponent("direct"))
        Self.announce("ceiling: one process, the same rows")
        let ceiling = try BenchCeiling.run(
            in: root.appendingPathComponent("ceiling"), commands: clients * commands, executable: ceilingPath, keys: keys)
        var rows = [direct, ceiling]
        for generator in loadGenerator {
            guard ["swift", "swift-blocking", "c"].contains(generator) else {
                throw ValidationError("--load-generator takes swift, swift-blocking or c, not \(generator)")
            }
            if generator == "c", !FileManager.default.isExecutableFile(atPath: loadgenPath) {
                throw ValidationError(
                    "no C load generator at \(loadgenPath): build it with `make bench` or cc -O2 -o \(loadgenPath) Benchmarks/loadgen.c $(pkg-config --cflags --libs libzmq)"
                )
            }
        }
        for mode in modes {
            for depth in window {
                for batch in maxBatch {
                    for generator in loadGenerator {
                        for listened in events {
                            Self.announce(
                                "broker: \(mode.rawValue), \(depth) in flight per client, batches ≤ \(batch), \(generator) clients, events \(listened)")
                            rows.append(
                                try await brokerRun(
                                    root.appendingPathComponent(
                                        "broker-\(mode.rawValue)-\(depth)-\(batch)-\(generator)-\(listened)"),
                                    window: depth, synchronous: mode, generator: generator, maxBatch: batch,
                                    subscriber: listened == "subscribed"
                                ))
                        }
                    }
                }
            }
        }
        print("")
        print(
            "| path | processes | in flight per client | commands | seconds | commands/s | p50 ms | p99 ms | × direct writers | × ceiling | broker CPU µs/cmd | × ceiling CPU | client CPU µs/cmd | slowest / fastest client | commands per commit |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in rows {
            print(row.markdown(baseline: direct.rate, ceiling: ceiling.rate, ceilingMicros: ceiling.serverMicrosPerCommand))
        }
    }

    private func directBaseline(_ directory: URL) throws -> BenchResult {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = directory.appendingPathComponent("bench.db").path
        try BenchWorker.prepareDirectDatabase(database)
        let (samples, seconds, clientCPU, fairness) = try spawnBenchWorkers(clients) { index in
            [
                "worker", "--mode", "direct", "--target", database, "--id", "\(index)", "--commands",
                "\(commands)",
            ]
        }
        return BenchResult(
            path: "direct SQLite writers", processes: clients, window: 1, samples: samples, seconds: seconds,
            serverCPU: nil, clientCPU: clientCPU, fairness: fairness, commandsPerCommit: 1
        )
    }

    /// How the table names the clients of a load generator.
    static func clientLabel(_ generator: String) -> String {
        switch generator {
        case "c": "C clients"
        case "swift-blocking": "Swift blocking clients"
        default: "Swift clients"
        }
    }

    /// A phase of the benchmark, on standard error (standard output keeps the table).
    static func announce(_ phase: String) {
        FileHandle.standardError.write(Data("bench write: \(phase)…\n".utf8))
    }

    private func brokerRun(
        _ directory: URL, window: Int, synchronous: SynchronousMode, generator: String, maxBatch: Int,
        subscriber: Bool
    ) async throws -> BenchResult {
        let bench = try BenchBroker(in: directory, synchronous: synchronous, maxBatch: maxBatch)
        defer { bench.stop() }
        let (samples, seconds, brokerCPU, clientCPU, fairness) = try bench.drive(
            clients: clients, commands: commands, window: window, generator: generator, loadgenPath: loadgenPath,
            subscriber: subscriber, keys: keys)
        // How many commands each commit carried: the broker's own count (STATS), after the load.
        let operatorClient = try bench.client()
        defer { operatorClient.close() }
        let stats = try await operatorClient.stats()
        func total(_ field: String) -> Double {
            (stats[field]?.objectValue ?? [:]).values.reduce(0) { $0 + Double($1.intValue ?? 0) }
        }
        return BenchResult(
            path:
                "sluice broker (ipc, \(synchronous.rawValue.uppercased()), \(Self.clientLabel(generator)), "
                + (subscriber ? "1 subscriber" : "no subscriber")
                + (self.maxBatch.count > 1 ? ", batches ≤ \(maxBatch))" : ")"),
            processes: clients, window: window, samples: samples, seconds: seconds,
            serverCPU: brokerCPU, clientCPU: clientCPU, fairness: fairness,
            commandsPerCommit: total("batched_commands") / max(1, total("batches"))
        )
    }

}

struct BenchResult {
    var path: String
    var processes: Int
    var window: Int
    var samples: [Double]
    var seconds: Double
    /// CPU seconds the broker (this process) used; nil for the direct baseline.
    var serverCPU: Double?
    /// CPU seconds all worker processes used for the load (as each reports it: from its first
    /// command to its last answer, its process start-up excluded).
    var clientCPU: Double
    /// The slowest client's commands per second over the fastest's (nil where not measured).
    var fairness: Double? = nil
    /// Commands per durable commit: 1 for the direct writers, 1,000 for the ceiling, the broker's
    /// mean batch (from its `STATS`).
    var commandsPerCommit: Double? = nil

    var rate: Double { Double(samples.count) / seconds }

    func percentile(_ fraction: Double) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] / 1000
    }

    /// CPU per command in µs (the broker's, or the ceiling program's); nil for the direct writers.
    var serverMicrosPerCommand: Double? { serverCPU.map { $0 * 1e6 / Double(samples.count) } }

    /// `ceilingMicros`: the ceiling's CPU per command in the same run, for a ratio that this
    /// shared machine's drift (±15% between runs) moves less than the µs themselves.
    func markdown(baseline: Double, ceiling: Double? = nil, ceilingMicros: Double? = nil) -> String {
        var cells = [
            path, "\(processes)", "\(window)", "\(samples.count)", String(format: "%.2f", seconds),
            String(format: "%.0f", rate),
            String(format: "%.2f", percentile(0.5)), String(format: "%.2f", percentile(0.99)),
            String(format: "%.1f×", rate / baseline),
        ]
        if let ceiling { cells.append(String(format: "%.2f×", rate / ceiling)) }
        cells += [
            serverMicrosPerCommand.map { String(format: "%.1f", $0) } ?? "–",
            serverMicrosPerCommand.flatMap { micros in ceilingMicros.map { String(format: "%.2f×", micros / $0) } }
                ?? "–",
            String(format: "%.1f", clientCPU * 1e6 / Double(samples.count)),
            fairness.map { String(format: "%.2f", $0) } ?? "–",
            commandsPerCommit.map { String(format: "%.1f", $0) } ?? "–",
        ]
        return "| " + cells.joined(separator: " | ") + " |"
    }
}

/// User + system CPU seconds of this process, of the calling thread and of the process's
/// waited-for children (getrusage).
struct CPUTime {
    var selfSeconds: Double
    var children: Double
    /// The calling thread's.
    var thread: Double = 0

    static func now() -> CPUTime {
        func seconds(_ who: Int32) -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(who), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
                usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        return CPUTime(
            selfSeconds: seconds(RUSAGE_SELF.rawValue), children: seconds(RUSAGE_CHILDREN.rawValue),
            // RUSAGE_THREAD is 1 on Linux (Glibc's module does not import the name); elsewhere
            // the call fails and the thread's CPU reads 0.
            thread: seconds(1))
    }

    static func - (lhs: CPUTime, rhs: CPUTime) -> CPUTime {
        CPUTime(
            selfSeconds: lhs.selfSeconds - rhs.selfSeconds, children: lhs.children - rhs.children,
            thread: lhs.thread - rhs.thread)
    }
}

/// Starts `clients` worker processes at once and collects their latency samples (µs), the span
/// from the first worker's start to the last one's end, the CPU they used in that span (each
/// worker's own report: process start-up excluded), and the fairness between them: the slowest
/// worker's commands per second over the fastest's.
func spawnBenchWorkers(
    _ clients: Int, executable: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
    _ arguments: (Int) -> [String]
) throws -> (samples: [Double], seconds: Double, cpu: Double, fairness: Double) {
    var running: [(Process, Pipe)] = []
    for index in 0..<clients {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = executable
        process.arguments = arguments(index)
        process.standardOutput = pipe
        try process.run()
        running.append((process, pipe))
    }
    var samples: [Double] = []
    var first = Double.infinity
    var last = 0.0
    var cpu = 0.0
    var rates: [Double] = []
    for (process, pipe) in running {
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("a bench worker failed (status \(process.terminationStatus))")
        }
        let report = try JSONValue(parsing: Array(output))
        let latencies = report["latencies_us"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        samples += latencies
        let started = report["started"]?.doubleValue ?? first
        let finished = report["finished"]?.doubleValue ?? last
        if finished > started { rates.append(Double(latencies.count) / (finished - started)) }
        first = min(first, started)
        last = max(last, finished)
        guard let used = report["cpu_seconds"]?.doubleValue else {
            throw ValidationError("a bench worker did not report its CPU (cpu_seconds): rebuild it (make bench)")
        }
        cpu += used
    }
    let fairness = (rates.min() ?? 0) / max(rates.max() ?? 1, .leastNonzeroMagnitude)
    return (samples, last - first, cpu, fairness)
}
