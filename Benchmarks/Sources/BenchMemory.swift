import ArgumentParser
import Foundation
import SluiceBroker
import Synchronization

/// `sluice-bench memory`: the broker's resident memory while a long load flows.
struct BenchMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "The broker's resident memory (RSS) while --clients × --commands commands flow.",
        discussion: """
            The broker runs in this process; clients are separate processes (the C load generator when built, \
            else SluiceClient workers) whose reports this process does not read. RSS is read from /proc/self/status every 100 ms. Prints it at each tenth \
            of the run, and the ratio of the last tenth's peak to the first tenth's: flat memory is a ratio near 1 \
            (the baseline is the same run's first tenth).
            """
    )

    @Option(help: "Client processes.") var clients = 8
    @Option(help: "Commands per client process.") var commands = 125_000
    @Option(help: "Commands in flight per client.") var window = 64
    @Option(help: "The compiled C load generator (make bench builds it).") var loadgenPath = ".build/loadgen"
    @Option(help: "Where to put the temporary data directory.") var scratch = "/tmp"

    /// Resident set size of this process, in KiB.
    static func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") ?? 0
        }
        return 0
    }

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-memory-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let bench = try BenchBroker(in: root)
        defer { bench.stop() }
        let generator = FileManager.default.isExecutableFile(atPath: loadgenPath) ? "c" : "swift"
        let samples = Mutex<[(seconds: Double, kib: Int)]>([])
        let done = Atomic<Bool>(false)
        let started = Date()
        let sampler = Thread {
            while !done.load(ordering: .relaxed) {
                let kib = BenchMemory.residentKiB()
                samples.withLock { $0.append((Date().timeIntervalSince(started), kib)) }
                usleep(100_000)
            }
        }
        sampler.start()
        FileHandle.standardError.write(
            Data("bench memory: \(clients) × \(commands) commands, \(window) in flight, \(generator) clients…\n".utf8))
        // The workers' reports (every latency) are not read: parsing them in this process would
        // show up in its RSS as if it were the broker's.
        let endpoint = bench.configuration.commandEndpoint
        var workers: [Process] = []
        for index in 0..<clients {
            let process = Process()
            if generator == "c" {
                process.executableURL = URL(fileURLWithPath: loadgenPath)
                process.arguments = [endpoint, bench.token, "\(index)", "\(commands)", "\(window)"]
            } else {
                process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                process.arguments = [
                    "worker", "--mode", "broker", "--target", endpoint, "--id", "\(index)", "--commands",
                    "\(commands)", "--window", "\(window)", "--token", bench.token,
                ]
            }
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            workers.append(process)
        }
        for worker in workers {
            worker.waitUntilExit()
            guard worker.terminationStatus == 0 else {
                throw ValidationError("a bench worker failed (status \(worker.terminationStatus))")
            }
        }
        let seconds = Date().timeIntervalSince(started)
        done.store(true, ordering: .relaxed)
        let all = samples.withLock { $0 }
        let total = all.last?.seconds ?? 0
        print(
            "sluice-bench memory: \(clients * commands) commands in \(String(format: "%.1f", seconds)) s "
                + "(\(String(format: "%.0f", Double(clients * commands) / max(seconds, 0.001))) commands/s), \(generator) clients")
        print("")
        print("| tenth of the run | seconds | peak RSS MiB |")
        print("| ---: | ---: | ---: |")
        var peaks: [Int] = []
        for tenth in 0..<10 {
            let from = total * Double(tenth) / 10
            let to = total * Double(tenth + 1) / 10
            let peak = all.filter { $0.seconds >= from && $0.seconds <= to }.map(\.kib).max() ?? 0
            peaks.append(peak)
            print("| \(tenth + 1) | \(String(format: "%.1f", to)) | \(String(format: "%.1f", Double(peak) / 1024)) |")
        }
        if let first = peaks.first(where: { $0 > 0 }), let last = peaks.last, first > 0 {
            print("")
            print("last tenth's peak / first tenth's: \(String(format: "%.2f", Double(last) / Double(first)))×")
        }
    }
}
