import ArgumentParser
import Foundation
import SluiceBroker
import SluiceWire

/// `sluice-bench latency`: one client, one command in flight — how a plugin that awaits each
/// command sees the broker — against what such a command cannot avoid, measured in the same run:
/// a raw ZeroMQ round trip (`Benchmarks/zmqping.c`) plus one durable SQLite commit
/// (`Benchmarks/commitcost.c`).
struct BenchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "One client, one command in flight: p50 against a ZeroMQ round trip plus one FULL commit.",
        discussion: """
            Baseline, in the same run and the same scratch directory: the p50 of a raw ZeroMQ ipc round trip of a \
            COMMAND-shaped message (zmqping: a DEALER and an echoing ROUTER, each with its own context) plus the \
            p50 of one single-row SQLite commit with synchronous=FULL in WAL mode (commitcost). Then one client \
            sends --commands commands one at a time to a broker (FULL), from each load generator given.
            """
    )

    @Option(help: "Commands per broker run, one at a time.")
    var commands = 2000

    @Option(help: "Round trips and commits of the baselines.")
    var samples = 2000

    @Option(
        parsing: .upToNextOption,
        help: "Who sends the commands: c (Benchmarks/loadgen.c), swift (SluiceClient), swift-blocking (SluiceConnection).")
    var loadGenerator: [String] = ["c", "swift", "swift-blocking"]

    @Option(help: "Think time after each answer, in ms (0: the next command at once).")
    var pauseMs = 0

    @Option(help: "The broker's idle time before it checkpoints the WAL (serve's idleCheckpointMs; default its own).")
    var idleCheckpointMs: Int?

    @Option(help: "Where to put the temporary data directories (the commits' file system).")
    var scratch = "/tmp"

    @Option(help: "The compiled C programs (make bench builds them).")
    var loadgenPath = ".build/loadgen"
    @Option var zmqpingPath = ".build/zmqping"
    @Option var commitcostPath = ".build/commitcost"

    func validate() throws {
        for generator in loadGenerator where !["c", "swift", "swift-blocking"].contains(generator) {
            throw ValidationError("--load-generator takes c, swift or swift-blocking, not \(generator)")
        }
    }

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-latency-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        print("sluice-bench latency: 1 client, \(commands) commands one at a time; baselines of \(samples) each")

        BenchWrite.announce("baseline: ZeroMQ round trip")
        let roundTrip = try Self.p50(of: zmqpingPath, [root.path, "\(samples)"])
        BenchWrite.announce("baseline: one FULL commit")
        let commit = try Self.p50(of: commitcostPath, [root.path, "\(samples)", "json"])
        let floor = roundTrip + commit

        var rows: [(String, Double, Double)] = []
        for generator in loadGenerator {
            BenchWrite.announce("broker: 1 \(BenchWrite.clientLabel(generator)) client, 1 in flight")
            let bench = try BenchBroker(in: root.appendingPathComponent(generator)) { configuration in
                if let idleCheckpointMs { configuration.idleCheckpointMs = idleCheckpointMs }
            }
            defer { bench.stop() }
            let (samples, _, _, _, _) = try bench.drive(
                clients: 1, commands: commands, window: 1, generator: generator, loadgenPath: loadgenPath,
                pauseMs: pauseMs)
            let sorted = samples.sorted()
            rows.append(
                (
                    "sluice broker (ipc, FULL, \(BenchWrite.clientLabel(generator)))", sorted[sorted.count / 2],
                    sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
                ))
        }

        print("")
        print("| path | p50 µs | p99 µs | × (round trip + commit) |")
        print("| --- | ---: | ---: | ---: |")
        print("| ZeroMQ ipc round trip (C) | \(Self.micros(roundTrip)) | – | – |")
        print("| one FULL commit (C) | \(Self.micros(commit)) | – | – |")
        print("| round trip + commit | \(Self.micros(floor)) | – | 1.00× |")
        for (path, p50, p99) in rows {
            print("| \(path) | \(Self.micros(p50)) | \(Self.micros(p99)) | \(String(format: "%.2f×", p50 / floor)) |")
        }
    }

    static func micros(_ value: Double) -> String { String(format: "%.0f", value) }

    /// Runs one of the C baseline programs and reads `p50_us` from the JSON it prints.
    static func p50(of executable: String, _ arguments: [String]) throws -> Double {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("no \(executable): build it with make bench")
        }
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let p50 = try JSONValue(parsing: Array(output))["p50_us"]?.doubleValue
        else {
            throw ValidationError("\(executable) failed or printed no p50_us")
        }
        return p50
    }
}
