import ArgumentParser
import Foundation
import SluiceBroker

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a database file (e.g. one rebuilt by `sluice replay`) with the live one, table by table.",
        discussion:
            "Prints each difference (table, row) and exits 1 if there is any; the sluice_* tables are not compared."
    )

    @Argument(help: "The live database, e.g. tasks.")
    var db: String

    @Argument(help: "The file to compare with it.")
    var file: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let live = URL(fileURLWithPath: dataDir).standardizedFileURL.appendingPathComponent("\(db).db")
        let differences = try LogReplayer.compare(live: live, rebuilt: URL(fileURLWithPath: file).standardizedFileURL)
        if differences.isEmpty {
            print("identical: every table of \(file) matches \(live.path)")
            return
        }
        for difference in differences { print(difference) }
        throw ExitCode(1)
    }
}
