import Foundation
import GRDB
import SluiceWire

/// What each plugin's SQL may touch: the tables, views, indexes and triggers its own migrations
/// create, and nothing of the broker's (`sluice_*`). Worked out at every start by running the
/// plugin's migrations alone in a scratch in-memory database under ``PluginSQLAuthorizer`` — which
/// also proves that they touch nothing else — so ownership needs no stored state.
public struct PluginIsolation: Sendable {
    /// Plugin id → the names it owns (lower-cased).
    let owned: [String: Set<String>]

    init(registry: ContractRegistry) throws {
        var owned: [String: Set<String>] = [:]
        for (id, manifest) in registry.plugins {
            owned[id] = try PluginIsolation.ownedNames(plugin: id, in: registry)
        }
        // Two plugins sharing plugins.db must not claim the same name (CREATE TABLE IF NOT EXISTS
        // on another plugin's table would otherwise hand it over).
        let shared = registry.plugins.values.filter { $0.databaseMode == .shared }.map(\.id).sorted()
        for (index, first) in shared.enumerated() {
            for second in shared[(index + 1)...] {
                if let name = owned[first, default: []].intersection(owned[second, default: []]).sorted().first {
                    throw IsolationError(
                        plugin: second, place: "migrations",
                        reason: "creates \(name), which plugin \(first) also creates in the shared database")
                }
            }
        }
        self.owned = owned
    }

    /// The rules for one database file: its plugins' ownership and the plugin contracts that run on it.
    func rules(for database: String, in registry: ContractRegistry) -> DatabaseIsolation {
        DatabaseIsolation(
            owned: owned,
            contracts: registry.contracts.values.filter { $0.database == database && $0.plugin != nil }
                .sorted { $0.id.description < $1.id.description }
        )
    }

    /// Runs the plugin's migrations in order in an empty in-memory database, each under the
    /// plugin's scope, then compiles its contracts' statements there under the same scope; returns
    /// every name the migrations created (and the final schema's, so a rename is covered). This is
    /// what `sluice plugins install` checks before it copies anything.
    public static func ownedNames(plugin: String, in registry: ContractRegistry) throws -> Set<String> {
        guard let manifest = registry.plugins[plugin] else { return [] }
        let migrations = (registry.migrations[manifest.databaseName] ?? []).filter { $0.plugin == plugin }
        let contracts = registry.contracts.values.filter { $0.plugin == plugin }.sorted {
            $0.id.description < $1.id.description
        }
        let scratch = try DatabaseQueue()
        let authorizer = PluginSQLAuthorizer()
        return try scratch.inDatabase { db in
            authorizer.install(on: db)
            for migration in migrations {
                authorizer.scope = .init(plugin: plugin, owned: [], phase: .migration)
                defer { authorizer.scope = nil }
                do {
                    try db.execute(sql: migration.sql)
                } catch {
                    throw IsolationError(
                        plugin: plugin, place: "migration \(migration.name)",
                        reason: authorizer.denial ?? "it fails on an empty database: \(error)")
                }
            }
            let schema = try String.fetchAll(db, sql: "SELECT lower(name) FROM sqlite_master")
            let owned = authorizer.created.union(schema)
            try DatabaseIsolation(owned: [plugin: owned], contracts: contracts).checkContracts(
                in: db, authorizer: authorizer)
            return owned
        }
    }
}

/// The isolation rules a database file's set-up applies: see ``PluginIsolation``.
struct DatabaseIsolation: Sendable {
    var owned: [String: Set<String>]
    var contracts: [Contract]

    func scope(for plugin: String, _ phase: PluginSQLAuthorizer.Scope.Phase) -> PluginSQLAuthorizer.Scope {
        PluginSQLAuthorizer.Scope(plugin: plugin, owned: owned[plugin] ?? [], phase: phase)
    }

    /// Compiles every plugin contract statement of this database under its plugin's scope: a
    /// statement that reads or writes anything its plugin does not own does not compile.
    func checkContracts(in db: Database, authorizer: PluginSQLAuthorizer) throws {
        for contract in contracts {
            guard let plugin = contract.plugin else { continue }
            for (index, statement) in contract.statements.enumerated() {
                authorizer.scope = scope(for: plugin, .contract)
                authorizer.clearDenial()
                defer { authorizer.scope = nil }
                do {
                    _ = try db.makeStatement(sql: statement.sql)
                } catch {
                    throw IsolationError(
                        plugin: plugin, place: "contract \(contract.id) statements[\(index)] (\(statement.sql))",
                        reason: authorizer.denial ?? "\(error)")
                }
            }
        }
    }
}

/// A plugin's SQL reaches beyond what it owns; the plugin is refused (at install, and at start).
public struct IsolationError: Error, CustomStringConvertible {
    public var plugin: String
    /// The migration or contract statement at fault.
    public var place: String
    public var reason: String
    public var description: String { "plugin \(plugin), \(place): refused: \(reason)" }
}
