import ArgumentParser
import Foundation
import SluiceBroker
import SluiceWire

struct Contracts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with contract documents.", subcommands: [ContractsCheck.self]
    )
}

struct ContractsCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a contract document; exit 1 with the reason when it is invalid.",
        discussion:
            "The rules are those of docs/contracts.md and schemas/contract.schema.json, applied exactly as the broker applies them when it loads contracts."
    )

    @Argument(help: "The contract file.")
    var file: String

    @Flag(name: .long, help: "Check it as a plugin's contract (database optional, capability required).")
    var plugin = false

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        do {
            let json = try JSONValue(parsing: Array(data))
            let contract = try Contract(
                json: json, file: file, plugin: plugin ? "plugin" : nil, pluginDatabase: plugin ? "plugin" : nil)
            print(
                "ok: \(contract.id) (\(contract.kind.rawValue), \(contract.statements.count) statement(s), capability \(contract.capability ?? "none"))"
            )
        } catch {
            FileHandle.standardError.write(Data("invalid: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
