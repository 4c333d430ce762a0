import Foundation
import GRDB
import SluiceWire

/// What each plugin's SQL may touch: the tables, views, indexes and triggers its own migrations
/// create, and nothing of the broker's (`sluice_*`). Worked out at every start by replaying each
/// database's plugin migrations, in the order the broker runs them, in a scratch in-memory
/// database under ``PluginSQLAuthorizer`` — which also proves that none touches what another
/// plugin created — so ownership needs no stored state.
public struct PluginIsolation: Sendable {
    /// Plugin id → the names it owns (lower-cased).
    let owned: [String: Set<String>]
    /// Plugin id → the projection tables it may read (lower-cased).
    let readable: [String: Set<String>]

    /// Checks every plugin of `registry` and works out what each owns. This is also what
    /// `sluice plugins install` runs, on the installed plugins plus the new one, before it copies
    /// anything: a migration that drops, alters or writes another plugin's table in the shared
    /// database is refused there, not at the broker's next start.
    public init(registry: ContractRegistry) throws {
        var owned: [String: Set<String>] = [:]
        // An exclusive-postgres plugin's SQL is PostgreSQL's, confined by its role's rights there.
        let sqlitePlugins = registry.plugins.values.filter { $0.databaseMode != .exclusivePostgres }
        for database in Set(sqlitePlugins.map(\.databaseName)).sorted() {
            owned.merge(try PluginIsolation.ownedNames(database: database, in: registry)) { $0.union($1) }
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
        readable = PluginIsolation.readableProjections(in: registry)
    }

    /// The projection tables each plugin may read: those in its database whose read capability
    /// its manifest grants.
    static func readableProjections(in registry: ContractRegistry) -> [String: Set<String>] {
        var readable: [String: Set<String>] = [:]
        for manifest in registry.plugins.values {
            readable[manifest.id] = Set(
                registry.projections(into: manifest.databaseName)
                    .filter { manifest.capabilities.contains($0.capability) }.map { $0.table.lowercased() })
        }
        return readable
    }

    /// The rules for one database file: its plugins' ownership and the plugin contracts that run on it.
    func rules(for database: String, in registry: ContractRegistry) -> DatabaseIsolation {
        DatabaseIsolation(
            owned: owned,
            contracts: registry.contracts.values.filter { $0.database == database && $0.plugin != nil }
                .sorted { $0.id.description < $1.id.description },
            projections: registry.projections(into: database), readable: readable
        )
    }

    /// Runs the plugin migrations of `database` in the broker's order in an empty in-memory
    /// database, each under its plugin's scope, then compiles the plugins' contract statements
    /// there under the same scopes. A plugin owns what its migrations created (and the names that
    /// appeared in the schema while they ran, so a rename is covered).
    static func ownedNames(database: String, in registry: ContractRegistry) throws -> [String: Set<String>] {
        var owned: [String: Set<String>] = [:]
        for manifest in registry.plugins.values where manifest.databaseName == database { owned[manifest.id] = [] }
        let migrations = (registry.migrations[database] ?? []).filter { $0.plugin != nil }
        let contracts = registry.contracts.values.filter { $0.database == database && $0.plugin != nil }.sorted {
            $0.id.description < $1.id.description
        }
        let projections = registry.projections(into: database)
        let readable = readableProjections(in: registry)
        let scratch = try DatabaseQueue()
        let authorizer = PluginSQLAuthorizer()
        return try scratch.inDatabase { db in
            authorizer.install(on: db)
            // The broker creates projection tables before any plugin migration runs, as it does
            // in the real file (DatabaseFile), so a migration cannot claim or change one.
            for projection in projections { try db.execute(sql: projection.createTableSQL) }
            let schemaNames = { () throws -> Set<String> in
                Set(try String.fetchAll(db, sql: "SELECT lower(name) FROM sqlite_master"))
            }
            for migration in migrations {
                guard let plugin = migration.plugin else { continue }
                let before = try schemaNames()
                authorizer.scope = .init(
                    plugin: plugin, owned: owned[plugin, default: []], phase: .migration,
                    projectionTables: Set(projections.map { $0.table.lowercased() }))
                authorizer.clearDenial()
                do {
                    try db.execute(sql: migration.sql)
                } catch {
                    authorizer.scope = nil
                    throw IsolationError(
                        plugin: plugin, place: "migration \(migration.name)",
                        reason: authorizer.denial
                            ?? "it fails after the migrations before it in \(database) (replayed in an empty database): \(error)")
                }
                authorizer.scope = nil
                owned[plugin, default: []].formUnion(try schemaNames().subtracting(before))
                owned[plugin, default: []].formUnion(authorizer.created[plugin, default: []])
            }
            for (plugin, names) in owned {
                if let projection = projections.first(where: { names.contains($0.table.lowercased()) }) {
                    throw IsolationError(
                        plugin: plugin, place: "migrations",
                        reason: "claims \(projection.table), the table of projection \(projection.name), which only the broker writes")
                }
            }
            try DatabaseIsolation(
                owned: owned, contracts: contracts, projections: projections, readable: readable
            ).checkContracts(in: db, authorizer: authorizer)
            return owned
        }
    }
}

/// The isolation rules a database file's set-up applies: see ``PluginIsolation``.
struct DatabaseIsolation: Sendable {
    var owned: [String: Set<String>]
    var contracts: [Contract]
    /// The projections whose tables live in this file (created before the plugins' migrations).
    var projections: [Projection] = []
    /// Plugin id → the projection tables it may read.
    var readable: [String: Set<String>] = [:]

    /// A plugin's scope. Only its query contracts read the projections it is granted: a command
    /// that read one would depend on data its database's log does not hold, and a replay of the
    /// log could not reproduce it.
    func scope(for plugin: String, _ phase: PluginSQLAuthorizer.Scope.Phase, query: Bool = false)
        -> PluginSQLAuthorizer.Scope
    {
        PluginSQLAuthorizer.Scope(
            plugin: plugin, owned: owned[plugin] ?? [], phase: phase, readable: query ? readable[plugin] ?? [] : [],
            projectionTables: Set(projections.map { $0.table.lowercased() }))
    }

    /// Compiles every plugin contract statement of this database under its plugin's scope: a
    /// statement that reads or writes anything its plugin does not own does not compile.
    func checkContracts(in db: Database, authorizer: PluginSQLAuthorizer) throws {
        for contract in contracts {
            guard let plugin = contract.plugin else { continue }
            for (index, statement) in contract.statements.enumerated() {
                authorizer.scope = scope(for: plugin, .contract, query: contract.kind == .query)
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
