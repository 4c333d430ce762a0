import ArgumentParser
import Foundation
import Logging
import SluiceBroker
import SluiceClient
import SluiceWire

/// Plugin lifecycle on a running broker: each command changes the data directory, then — when a
/// broker serves it — asks it to serve the plugins as they are now (`RELOAD`, docs/plugins.md
/// "Lifecycle"), and prints what changed. With no broker running, the change is what the next
/// start serves.
enum PluginLifecycle {
    /// Tells the broker serving `dataDir`, if any; nil when none does. A refusal (`reload_refused`)
    /// is thrown, and the broker goes on serving the plugins it served before.
    static func tellBroker(dataDir: String, action: String, plugin: String, purge: Bool = false) async throws
        -> JSONValue?
    {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        let autoStart = BrokerAutoStart(executable: URL(fileURLWithPath: "/"), dataDirectory: data, contracts: [])
        guard autoStart.isServing() else { return nil }
        // One attempt, a long wait: a retried RELOAD would reload again and report no change.
        var connection = try ConnectionOptions.parse(["--data-dir", dataDir, "--no-auto-start", "--timeout", "120"])
        connection.user = TokenStore.operatorName
        let client = try connection.makeClient()
        defer { client.close() }
        return try await client.reload(action: action, plugin: plugin, purge: purge)
    }

    /// One line per change the broker reported, e.g. `upgraded notes 1.0.0 → 2.0.0 (serving)`.
    static func report(_ reloaded: JSONValue?, whenStopped: String) {
        guard let reloaded else {
            print(whenStopped)
            return
        }
        let changes = reloaded["changes"]?.arrayValue ?? []
        if changes.isEmpty { print("the broker serves it already; nothing changed") }
        for change in changes {
            let action = change["action"]?.stringValue ?? "?"
            let plugin = change["plugin"]?.stringValue ?? "?"
            let version =
                change["previous_version"].map { "\($0.stringValue ?? "") → \(change["version"]?.stringValue ?? "")" }
                ?? change["version"]?.stringValue ?? ""
            print("\(action) \(plugin) \(version) (the broker serves the change)")
        }
    }

    /// `disable` and `enable`: the mark beside its token, then the broker.
    static func setDisabled(_ id: String, _ disabled: Bool, dataDir: String) async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        guard PluginCatalog(dataDirectory: data).manifest(of: id) != nil else {
            throw ValidationError("no installed plugin '\(id)'")
        }
        try TokenStore(dataDirectory: data).setDisabled(id, disabled)
        let action = disabled ? "disable" : "enable"
        report(try await tellBroker(dataDir: dataDir, action: action, plugin: id), whenStopped: "\(action)d \(id)")
    }

    /// A refused reload's reason on standard error, and exit 1.
    static func refused(_ error: WireError, undone: String) -> ExitCode {
        FileHandle.standardError.write(Data("the broker refused: \(error.message)\n\(undone)\n".utf8))
        return ExitCode(1)
    }
}

struct PluginsUpgrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Replace an installed plugin with a new version; a running broker serves it at once.",
        discussion: """
            Checked like install. The new migrations run; older contract versions the new one replaces (note.create@v1 \
            when it brings note.create@v2) stay served while clients move — `sluice plugins retire <id> <contract>` \
            ends that. When the broker cannot serve the new version, the previous one is put back and still served.
            """
    )

    @OptionGroup var plugin: PluginFolderOptions

    func run() async throws {
        let catalog = plugin.catalog
        let (manifest, previous) = try catalog.upgrade(from: plugin.source, contractDirectories: plugin.contractSets)
        do {
            let reloaded = try await PluginLifecycle.tellBroker(
                dataDir: plugin.dataDir, action: "upgrade", plugin: manifest.id)
            catalog.commitUpgrade(manifest.id)
            PluginLifecycle.report(
                reloaded,
                whenStopped: "upgraded \(manifest.id) \(previous.version) → \(manifest.version); the broker serves it when it starts")
        } catch let error as WireError where error.code == .reloadRefused {
            try catalog.revertUpgrade(manifest.id)
            throw PluginLifecycle.refused(error, undone: "\(manifest.id) \(previous.version) is installed again and still served")
        }
    }
}

struct PluginsRetire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        abstract: "Stop serving an older contract version an upgrade kept (once no client sends it).")

    @Argument(help: "The plugin id.")
    var id: String

    @Argument(help: "The kept contract, name@version.")
    var contract: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        guard let contractID = ContractID(contract) else { throw ValidationError("\(contract) is not name@version") }
        let catalog = PluginCatalog(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
        guard try catalog.retire(id, contract: contractID) else {
            throw ValidationError("\(id) keeps no older version \(contract)")
        }
        let reloaded = try await PluginLifecycle.tellBroker(dataDir: dataDir, action: "retire", plugin: id)
        print(reloaded == nil ? "\(contract) retired; the broker stops serving it when it starts" : "\(contract) is no longer served")
    }
}

struct PluginsDisable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable",
        abstract: "Stop a plugin without uninstalling it: its identity is refused, its contracts unserved, its data kept.")

    @Argument(help: "The plugin id.")
    var id: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws { try await PluginLifecycle.setDisabled(id, true, dataDir: dataDir) }
}

struct PluginsEnable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable", abstract: "Serve a disabled plugin again.")

    @Argument(help: "The plugin id.")
    var id: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws { try await PluginLifecycle.setDisabled(id, false, dataDir: dataDir) }
}

struct PluginsRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Uninstall a plugin: its work in flight is answered, its identity revoked, its data kept unless --purge.",
        discussion:
            "--purge deletes an exclusive plugin's database file, drops an exclusive-postgres plugin's schemas and role, or drops what a shared plugin's migrations created in plugins.db (the shared command log keeps its commands). Without a running broker, purging an exclusive-postgres plugin needs --postgres-url (and its password)."
    )

    @Argument(help: "The plugin id.")
    var id: String

    @Flag(name: .long, help: "Delete the plugin's data too.")
    var purge = false

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @OptionGroup var postgres: PostgresOptions

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        let catalog = PluginCatalog(dataDirectory: data)
        // The registry that still has the plugin says what its data is (for --purge without a broker).
        var before = ContractRegistry()
        if purge { try before.loadInstalledPlugins(dataDirectory: data) }
        let manifest = try catalog.remove(id)
        let reloaded = try await PluginLifecycle.tellBroker(dataDir: dataDir, action: "remove", plugin: id, purge: purge)
        if reloaded == nil && purge {
            // No broker: take the directory while the data goes.
            let lock = try DataDirectoryLock(directory: data)
            defer { lock.release() }
            if manifest.databaseMode == .exclusivePostgres {
                let server = try postgres.requiredServer(
                    for: "\(id) was removed; its PostgreSQL schemas and role stay until they are dropped")
                try PostgresProvisioning.purge(id, server: server, dataDirectory: data, logger: Logger(label: "sluice"))
            } else {
                try catalog.purge(id, registry: before)
            }
        }
        PluginLifecycle.report(
            reloaded, whenStopped: "removed \(id) \(manifest.version)\(purge ? " and its data" : "; its data stays")")
    }
}

/// What `install` and `upgrade` take: the plugin folder, the data directory, and the contract
/// sets the broker serves (for the projections a plugin may read).
struct PluginFolderOptions: ParsableArguments {
    @Argument(help: "The plugin folder (with plugin.json).")
    var path: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue,
        help: "Contract sets the broker serves (their projections are what the plugin may read). Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    var source: URL { URL(fileURLWithPath: path).standardizedFileURL }
    var catalog: PluginCatalog { PluginCatalog(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL) }
    var contractSets: [URL] {
        var sets = contracts
        if sets.isEmpty, FileManager.default.fileExists(atPath: "examples/tasks/contracts") { sets = ["examples/tasks"] }
        return sets.map { URL(fileURLWithPath: $0).standardizedFileURL }
    }
}
