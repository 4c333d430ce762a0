import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bound a database's command log: snapshot the database, keep only the newest log rows.",
        discussion: """
            The serving broker's writer snapshots <data-dir>/<db>.db into <data-dir>/snapshots/<db>.db (data and \
            ledger as of the newest seq, without the log), then deletes all but the newest --keep log rows. \
            `sluice replay` then starts from the snapshot; SYNC from before the kept rows answers `compacted`. \
            Seqs and idempotency keys are not affected.
            """
    )

    @Argument(help: "The database, e.g. tasks.")
    var db: String

    @Option(name: .long, help: "Log rows to keep after the snapshot (subscribers can still catch up on them).")
    var keep: Int64 = 10_000

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = try connection.makeClient()
        defer { client.close() }
        do {
            print(try await client.compact(db: db, keep: keep).canonicalString)
        } catch let error as WireError {
            FileHandle.standardError.write(Data((error.json.canonicalString + "\n").utf8))
            throw ExitCode(1)
        }
    }
}
