import ArgumentParser
import Foundation
import GRDB
import SluiceBroker
import SluiceWire

struct Plugins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, install, upgrade, disable, enable, remove and inspect plugins (live on a running broker).",
        subcommands: [
            PluginsCreate.self, PluginsInstall.self, PluginsUpgrade.self, PluginsDisable.self, PluginsEnable.self,
            PluginsRemove.self, PluginsRetire.self, PluginsList.self, PluginsHealth.self, PluginsDatabase.self,
            PluginsRotateToken.self, PluginsRotateCredentials.self, PluginsKeygen.self, PluginsSign.self, PluginsTrust.self, PluginsDistrust.self,
            PluginsTrusted.self,
        ]
    )
}

struct PluginsCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Write a new plugin folder (manifest, one contract, one migration) to edit.",
        discussion:
            "Example: sluice plugins create notes --db exclusive, then edit notes/, then sluice plugins install notes"
    )

    @Argument(help: "The plugin id: [a-z0-9-], at most 64 characters.")
    var id: String

    @Option(name: .long, help: "Database mode: shared (plugins.db), exclusive (plugins/<id>.db) or postgres (its own schemas on the broker's PostgreSQL).")
    var db: String = "exclusive"

    @Option(name: .long, help: "Where to create the folder.")
    var directory: String = "."

    func run() async throws {
        let mode: PluginManifest.DatabaseMode
        switch db {
        case "shared": mode = .shared
        case "exclusive", "exclusive-sqlite": mode = .exclusiveSQLite
        case "postgres", "exclusive-postgres": mode = .exclusivePostgres
        default: throw ValidationError("--db must be shared, exclusive or postgres")
        }
        let folder = try PluginScaffold.create(id: id, mode: mode, in: URL(fileURLWithPath: directory))
        print("created \(folder.path): plugin.json, contracts/, migrations/")
        print("next: edit it, then `sluice plugins install \(folder.path)`")
    }
}

struct PluginsInstall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Validate a plugin folder and install it into the data directory.",
        discussion: """
            Checks the folder (permissions, signature when keys are trusted), the manifest, every contract and \
            migration first; a bad plugin changes nothing on disk. Then copies the folder to \
            <data-dir>/installed/<id>/, creates its token <data-dir>/tokens/<id>.token (give it to the plugin: it \
            connects with name <id> and that token). A running broker serves it at once (its connections stay \
            open) and records it in core.db; when the broker cannot serve it, the install is undone.
            """
    )

    @OptionGroup var plugin: PluginFolderOptions

    func run() async throws {
        let catalog = plugin.catalog
        if let incoming = try? PluginManifest(directory: plugin.source), let installed = catalog.manifest(of: incoming.id) {
            throw ValidationError(
                "\(incoming.id) \(installed.version) is installed; to replace it: sluice plugins upgrade \(plugin.path)")
        }
        let manifest = try catalog.install(from: plugin.source, contractDirectories: plugin.contractSets)
        print("installed \(manifest.id) \(manifest.version) (\(manifest.databaseMode.rawValue))")
        print("token: \(TokenStore(dataDirectory: catalog.dataDirectory).url(for: manifest.id).path)")
        do {
            PluginLifecycle.report(
                try await PluginLifecycle.tellBroker(dataDir: plugin.dataDir, action: "install", plugin: manifest.id),
                whenStopped: "the broker serves it when it starts")
        } catch let error as WireError where error.code == .reloadRefused {
            _ = try catalog.remove(manifest.id)
            throw PluginLifecycle.refused(error, undone: "\(manifest.id) is uninstalled again")
        }
    }
}

struct PluginsRotateToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-token",
        abstract: "Give an identity a new token; the old one is refused from its next connection.",
        discussion:
            "Works while the broker serves (it reads tokens at every handshake). Connections already open stay until they close. Hand the plugin <data-dir>/tokens/<id>.token again."
    )

    @Argument(help: "A plugin id, or local.")
    var id: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let tokens = TokenStore(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
        guard tokens.token(for: id) != nil else {
            throw ValidationError("\(id) has no token in \(tokens.directory.path): is it installed?")
        }
        try tokens.rotateToken(for: id)
        print("\(id): new token in \(tokens.url(for: id).path); the old one is refused from its next connection")
        // A serving broker records the rotation on audit.lifecycle (nothing else changes).
        if id != TokenStore.operatorName {
            _ = try await PluginLifecycle.tellBroker(dataDir: dataDir, action: "rotate-token", plugin: id)
        }
    }
}

struct PluginsRotateCredentials: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-credentials",
        abstract: "Give an exclusive-postgres plugin's PostgreSQL role a new password.",
        discussion:
            "The password lives in <data-dir>/postgres/<id>.password and never leaves the broker. A serving broker reloads: its writer answers what it was given, and the new workers set the new password on the role and connect with it (recorded on audit.lifecycle as credentials_rotated). Without a broker, the next start sets it."
    )

    @Argument(help: "The plugin id.")
    var id: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        guard let manifest = PluginCatalog(dataDirectory: data).manifest(of: id) else {
            throw ValidationError("no installed plugin '\(id)'")
        }
        guard manifest.databaseMode == .exclusivePostgres else {
            throw ValidationError("\(id) keeps its data in SQLite (\(manifest.databaseMode.rawValue)): it has no PostgreSQL role")
        }
        try PostgresProvisioning.newPassword(id, dataDirectory: data)
        let reloaded = try await PluginLifecycle.tellBroker(dataDir: dataDir, action: "rotate-credentials", plugin: id)
        print(
            reloaded == nil
                ? "\(id): new PostgreSQL password in <data-dir>/postgres/\(id).password; the next start sets it on its role"
                : "\(id): new PostgreSQL password set on its role; the broker reconnected with it")
    }
}

struct PluginsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List installed plugins.")

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Flag(name: .long, help: "Print JSON, one object per plugin.")
    var json = false

    func run() async throws {
        let plugins = try PluginCatalog(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL).list()
        if plugins.isEmpty && !json {
            print("no plugins installed")
            return
        }
        printTable(
            ["plugin", "version", "database", "state", "installed"],
            plugins.map { [$0.id, $0.version, $0.mode, $0.disabled ? "disabled" : "enabled", $0.installedAt] }, json: json)
    }
}

struct PluginsDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "A plugin's database: ensure it exists, show it, or run its pending migrations.",
        discussion: "ensure and migrate need the broker stopped (they take the data directory's lock)."
    )

    @Argument(help: "ensure, info or migrate.")
    var action: String

    @Argument(help: "The plugin id.")
    var id: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        var registry = ContractRegistry()
        try registry.loadInstalledPlugins(dataDirectory: data)
        guard let manifest = registry.plugins[id] else { throw ValidationError("no installed plugin '\(id)'") }
        let database = manifest.databaseName
        switch action {
        case "ensure", "migrate":
            let lock = try DataDirectoryLock(directory: data)
            defer { lock.release() }
            let file = try DatabaseFile.open(database, registry: registry, dataDirectory: data)
            print(
                "\(file.url.path): \(registry.migrations[database]?.count ?? 0) migrations applied, last seq \(try file.lastSeq())"
            )
        case "info":
            let url = data.appendingPathComponent(registry.file(of: database))
            guard FileManager.default.fileExists(atPath: url.path) else {
                print("\(url.path) does not exist yet (sluice plugins db ensure \(id))")
                return
            }
            var configuration = Configuration()
            configuration.readonly = true
            let info = try await DatabaseQueue(path: url.path, configuration: configuration).read { db in
                (
                    try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0,
                    try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0,
                    try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sluice_log") ?? 0,
                    try String.fetchAll(db, sql: "SELECT name FROM sluice_migrations ORDER BY name")
                )
            }
            printTable(
                ["field", "value"],
                [
                    ["file", url.path], ["mode", manifest.databaseMode.rawValue], ["size", "\(info.0 * info.1) bytes"],
                    ["storage limit", registry.storageLimit(of: database).map { "\($0) bytes" } ?? "none"],
                    ["last seq", "\(info.2)"], ["migrations", info.3.joined(separator: ", ")],
                ]
            )
        default:
            throw ValidationError("action must be ensure, info or migrate")
        }
    }
}

/// Prints rows as an aligned plain-text table.
/// A table for people, or with `json` one object per row keyed by the header (for scripts).
func printTable(_ header: [String], _ rows: [[String]], json: Bool) {
    guard json else { return printTable(header, rows) }
    for row in rows {
        var members: [String: JSONValue] = [:]
        for (name, value) in zip(header, row) { members[name] = .string(value) }
        print(JSONValue.object(JSONObject(members)).canonicalString)
    }
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    for row in rows { print(line(row)) }
}

struct PluginsHealth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract:
            "Each plugin's state, last error, restarts, calls in flight and breaker, from the running plugin host.",
        discussion: "Reads <data-dir>/plugin-host.json, which a PluginHost rewrites every health interval."
    )

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let url = URL(fileURLWithPath: dataDir).appendingPathComponent("plugin-host.json")
        guard let data = FileManager.default.contents(atPath: url.path),
            let document = try? JSONValue(parsing: Array(data))
        else {
            print("no plugin host has reported (\(url.path) is missing)")
            throw ExitCode(1)
        }
        let age = Date().timeIntervalSince1970 - (document["updated_at"]?.doubleValue ?? 0)
        let rows = (document["plugins"]?.arrayValue ?? []).map { plugin in
            [
                plugin["id"]?.stringValue ?? "", plugin["state"]?.stringValue ?? "",
                "\(plugin["restarts"]?.intValue ?? 0)",
                "\(plugin["in_flight"]?.intValue ?? 0)", plugin["circuit_open"]?.boolValue == true ? "open" : "closed",
                plugin["last_error"]?.stringValue ?? "",
            ]
        }
        printTable(["plugin", "state", "restarts", "in flight", "breaker", "last error"], rows)
        if age > 10 {
            print(
                "warning: last report \(Int(age)) s ago; the host (pid \(document["pid"]?.intValue ?? 0)) may have stopped"
            )
            throw ExitCode(1)
        }
    }
}
