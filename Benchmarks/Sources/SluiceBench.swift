import ArgumentParser
import Foundation
import SluiceBroker

/// The benchmarks, an executable of their own (`sluice bench …` runs it too): the broker against
/// baselines measured in the same run — direct SQLite writers, the same-rows ceiling, plain
/// inserts and SELECTs, ZeroMQ round trips.
@main
struct SluiceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-bench",
        abstract: "Measure the broker against a baseline measured in the same run.",
        discussion:
            "Figures are ratios against the baseline because absolute numbers drift on shared machines. Build with -c release first (make bench).",
        subcommands: [
            BenchWrite.self, BenchReplay.self, BenchQuery.self, BenchProjection.self, BenchTransport.self, BenchFlood.self,
            BenchMemory.self, BenchLatency.self, BenchJSON.self, BenchWorker.self,
        ]
    )

    /// As `sluice`'s: SQLite's process-wide settings first; a wrong argument or option exits 2.
    static func main() async {
        SQLiteProcess.prepare()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
