import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a query contract and print its rows as a table (or JSON).",
        discussion: "Example: sluice query task.list@v1 '{\"status\": \"open\"}'"
    )

    @Argument(help: "Contract as name@version, e.g. task.list@v1.")
    var contract: String

    @Argument(help: "The parameters as a JSON object.")
    var parameters: String = "{}"

    @Option(name: .long, help: "Most rows to return.")
    var limit: Int?

    @Option(
        name: .long,
        help: "For a query reading projections: wait until each reflects at least this seq of its source (else 'stale').")
    var minSourceSeq: Int64?

    @Flag(name: .long, help: "Print the RESULT body as JSON instead of a table.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let input: JSONValue
        do {
            input = try JSONValue(parsing: parameters)
        } catch {
            throw ValidationError("parameters are not JSON: \(error)")
        }
        let client = try connection.makeClient()
        defer { client.close() }
        do {
            let result = try await client.query(contract, input, limit: limit, minSourceSeq: minSourceSeq)
            if json {
                var body: [String: JSONValue] = [
                    "db": .string(result.db), "seq": .int(result.seq),
                    "columns": .array(result.columns.map(JSONValue.string)),
                    "rows": .array(result.rows.map(JSONValue.array)), "truncated": .bool(result.truncated),
                ]
                if !result.projections.isEmpty {
                    body["projections"] = .object(JSONObject(result.projections.mapValues(JSONValue.int)))
                }
                print(JSONValue.object(JSONObject(body)).canonicalString)
                return
            }
            printTable(result.columns, result.rows.map { $0.map { $0.stringValue ?? $0.canonicalString } })
            let reflected = result.projections.sorted { $0.key < $1.key }.map { "; \($0.key) reflects its source at seq \($0.value)" }
            print(
                "\(result.rows.count) row(s)\(result.truncated ? " (truncated)" : ""), as of \(result.db) seq \(result.seq)"
                    + reflected.joined()
            )
        } catch let error as WireError {
            FileHandle.standardError.write(Data((error.json.canonicalString + "\n").utf8))
            throw ExitCode(1)
        }
    }
}
