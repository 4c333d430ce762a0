import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask whether the command sent with an idempotency key committed.",
        discussion: """
            Prints {"state": "committed" | "failed" | "in_flight" | "unknown", ...}. "unknown" means the broker \
            never committed it: sending it again with the same key is safe.
            """
    )

    @Argument(help: "The idempotency key the command was sent with.")
    var key: String

    @Option(name: .long, help: "Look only in this database.")
    var db: String?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = try connection.makeClient()
        defer { client.close() }
        do {
            print(try await client.status(idempotencyKey: key, db: db).json.canonicalString)
        } catch let error as WireError {
            FileHandle.standardError.write(Data((error.json.canonicalString + "\n").utf8))
            throw ExitCode(1)
        }
    }
}
