import ArgumentParser
import Foundation
import SluiceBroker

struct Capabilities: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show who may run what: each identity, its capabilities and the contracts they unlock.",
        discussion:
            "`local` (the operator) may run every contract. Reads the installed plugins and contract sets; no broker needed."
    )

    @Option(name: .long, help: "Only this plugin.")
    var plugin: String?

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue, help: "Contract sets, as for serve. Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    @Flag(name: .long, help: "Print JSON, one object per (identity, capability).")
    var json = false

    func run() async throws {
        let registry = try loadRegistry(dataDir: dataDir, contracts: contracts)
        var rows: [[String]] = []
        for (id, manifest) in registry.plugins.sorted(by: { $0.key < $1.key }) where plugin == nil || plugin == id {
            for capability in manifest.capabilities.sorted() {
                let unlocked = registry.contracts.values.filter { $0.capability == capability }.map(\.id.description)
                    .sorted()
                rows.append([id, capability, unlocked.isEmpty ? "(no contract)" : unlocked.joined(separator: ", ")])
            }
            if manifest.capabilities.isEmpty { rows.append([id, "(none)", ""]) }
        }
        if plugin == nil || plugin == "local" { rows.append(["local", "(all)", "every contract"]) }
        printTable(["identity", "capability", "contracts"], rows, json: json)
    }
}

/// The contracts a broker on this data directory would serve.
func loadRegistry(dataDir: String, contracts: [String]) throws -> ContractRegistry {
    var sets = contracts
    if sets.isEmpty, FileManager.default.fileExists(atPath: "examples/tasks/contracts") { sets = ["examples/tasks"] }
    var registry = try ContractRegistry(directories: sets.map { URL(fileURLWithPath: $0).standardizedFileURL })
    try registry.loadInstalledPlugins(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
    return registry
}
