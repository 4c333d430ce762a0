import ArgumentParser
import Foundation
import GRDB
import SluiceWire

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a database's command log, one JSON object per command.",
        discussion: """
            Reads <data-dir>/<db>.db directly (read-only), so it works whether or not a broker is serving. Each line \
            has seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload, status, result and \
            changes. With --follow it keeps printing new commands as they commit.
            """
    )

    @Argument(help: "The database, e.g. tasks.")
    var db: String

    @Option(name: .long, help: "First seq to print.")
    var from: Int64 = 1

    @Flag(name: .long, help: "Keep printing new commands as they commit (Ctrl-C to stop).")
    var follow = false

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let file = URL(fileURLWithPath: dataDir).appendingPathComponent("\(db).db")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ValidationError("no database \(file.path)")
        }
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: file.path, configuration: configuration)
        var next = from
        while true {
            let rows = try await queue.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM sluice_log WHERE seq >= ? ORDER BY seq LIMIT 1000", arguments: [next])
            }
            for row in rows {
                print(Self.json(row).canonicalString)
                next = (row["seq"] as Int64) + 1
            }
            fflush(nil)
            if rows.count == 1000 { continue }
            guard follow else { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A log row as JSON; the JSON-valued columns are embedded as JSON, not as strings.
    static func json(_ row: Row) -> JSONValue {
        var members: [String: JSONValue] = [:]
        for (column, value) in row {
            switch value.storage {
            case .int64(let number): members[column] = .int(number)
            case .string(let text) where ["payload", "result", "changes"].contains(column):
                members[column] = (try? JSONValue(parsing: text)) ?? .string(text)
            case .string(let text): members[column] = .string(text)
            default: members[column] = .null
            }
        }
        return .object(members)
    }
}
