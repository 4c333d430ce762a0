import ArgumentParser
import Foundation
import SluiceBroker

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run pending migrations of one scope (the broker must be stopped).",
        discussion: """
            Scopes: core (core.db), plugins (the shared plugins.db), a plugin id (its exclusive database) or a \
            contract set's database name. Migrations are forward-only and checksummed: running them twice does \
            nothing; an applied migration whose file changed is an error. The broker also runs pending migrations \
            when it starts.
            """
    )

    @Option(name: .long, help: "core, plugins, a plugin id or a database name.")
    var scope: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue, help: "Contract sets, as for serve. Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        let lock = try DataDirectoryLock(directory: data)
        defer { lock.release() }
        if scope == "core" {
            let catalog = PluginCatalog(dataDirectory: data)
            try catalog.recordContracts(try loadRegistry(dataDir: dataDir, contracts: contracts))
            print("core.db: up to date")
            return
        }
        let registry = try loadRegistry(dataDir: dataDir, contracts: contracts)
        let database = registry.plugins[scope]?.databaseName ?? scope
        guard registry.migrations[database] != nil else {
            throw ValidationError(
                "no scope '\(scope)': use core, plugins, a plugin id or one of \(registry.databases.joined(separator: ", "))"
            )
        }
        let file = try DatabaseFile.open(database, registry: registry, dataDirectory: data)
        print("\(file.url.path): \(registry.migrations[database]?.count ?? 0) migration(s) applied")
    }
}
