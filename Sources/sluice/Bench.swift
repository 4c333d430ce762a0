import ArgumentParser
import Foundation

/// `sluice bench …` runs `sluice-bench …`, the benchmarks' own executable beside this one (the
/// benchmark code is not part of the CLI).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the broker against a baseline measured in the same run (runs sluice-bench).",
        discussion: """
            Everything after `bench` goes to sluice-bench, built beside sluice (swift build -c release --product \
            sluice-bench; make bench). Its subcommands: write, replay, query, projection, transport, flood, memory, latency, json. \
            `sluice bench --help` shows its help.
            """,
        // --help too goes to sluice-bench, so `sluice bench write --help` explains `write`.
        helpNames: []
    )

    @Argument(parsing: .allUnrecognized, help: "sluice-bench's subcommand, arguments and options.")
    var arguments: [String] = []

    func run() throws {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let benchmarks = URL(fileURLWithPath: own).deletingLastPathComponent().appendingPathComponent("sluice-bench").path
        guard FileManager.default.isExecutableFile(atPath: benchmarks) else {
            throw ValidationError(
                "sluice-bench is not built beside \(own): swift build -c release --product sluice-bench (or make bench)")
        }
        let argv = ([benchmarks] + arguments).map { strdup($0) } + [nil]
        execv(benchmarks, argv)
        throw ValidationError("could not run \(benchmarks): \(String(cString: strerror(errno)))")
    }
}
