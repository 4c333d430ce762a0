import ArgumentParser
import Foundation

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the broker against a baseline measured in the same run.",
        discussion:
            "Figures are ratios against the baseline because absolute numbers drift on shared machines. Build with -c release first.",
        subcommands: [
            BenchWrite.self, BenchReplay.self, BenchQuery.self, BenchProjection.self, BenchTransport.self, BenchFlood.self,
            BenchMemory.self,
            BenchWorker.self,
        ]
    )
}
