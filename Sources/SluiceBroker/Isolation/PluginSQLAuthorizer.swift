import CSQLite
import GRDB

/// Confines a plugin's SQL to the tables it owns, decided by SQLite's authorizer
/// (`sqlite3_set_authorizer`): SQLite reports every table, column, trigger body and view a
/// statement touches while it compiles it, so no spelling of the SQL gets around the decision.
///
/// It is installed on connections used only for migrations and checks, never on a writer's or a
/// reader's connection (it replaces GRDB's own authorizer, which those need for observation).
/// While ``scope`` is nil everything is allowed: the broker's own statements and operator SQL.
final class PluginSQLAuthorizer {
    /// Whose SQL is compiled now, what it owns, and whether it may change the schema.
    struct Scope {
        enum Phase { case migration, contract }
        var plugin: String
        /// Lower-cased names of the tables, views, indexes and triggers the plugin owns.
        var owned: Set<String>
        var phase: Phase
        /// Lower-cased names of tables it may read and never write: the projections it is granted
        /// (in a query contract's scope only).
        var readable: Set<String> = []
        /// Lower-cased names of every projection table in the database, for clear refusals.
        var projectionTables: Set<String> = []
    }

    var scope: Scope?
    /// Schema objects each plugin's migrations created while this authorizer watched (lower-cased),
    /// by plugin: what one plugin creates is never another's.
    private(set) var created: [String: Set<String>] = [:]
    /// Why the last refused statement was refused.
    private(set) var denial: String?

    /// Installs the authorizer on `db`'s connection for as long as the connection lives.
    func install(on db: Database) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_set_authorizer(
            db.sqliteConnection,
            { context, action, first, second, third, fourth in
                let authorizer = Unmanaged<PluginSQLAuthorizer>.fromOpaque(context!).takeUnretainedValue()
                return authorizer.authorize(
                    action, first.map { String(cString: $0) }, second.map { String(cString: $0) },
                    database: third.map { String(cString: $0) })
            },
            context
        )
    }

    func clearDenial() { denial = nil }

    private func authorize(_ action: Int32, _ first: String?, _ second: String?, database: String?) -> Int32 {
        guard let scope else { return SQLITE_OK }
        // A read with no database is of a common table expression (WITH …), not of a table:
        // every real table read names its database (`main`).
        if action == SQLITE_READ, database == nil { return SQLITE_OK }
        let created = created[scope.plugin, default: []]
        if let reason = PluginSQLAuthorizer.refusal(action, first, second, scope: scope, created: created) {
            denial = reason
            return SQLITE_DENY
        }
        if scope.phase == .migration, PluginSQLAuthorizer.creations.contains(action), let name = first {
            self.created[scope.plugin, default: []].insert(name.lowercased())
        }
        return SQLITE_OK
    }

    static let creations: Set<Int32> = [SQLITE_CREATE_TABLE, SQLITE_CREATE_INDEX, SQLITE_CREATE_TRIGGER, SQLITE_CREATE_VIEW]

    /// Introspection of the plugin's own tables; every other PRAGMA is refused.
    static let safePragmas: Set<String> = [
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    ]

    /// SQLite's own schema tables, which DDL writes (a migration's CREATE TABLE inserts into it).
    static let schemaTables: Set<String> = ["sqlite_master", "sqlite_schema", "sqlite_temp_master"]

    /// Why `action` on (`first`, `second`) is refused in `scope`, or nil when it is allowed.
    static func refusal(_ action: Int32, _ first: String?, _ second: String?, scope: Scope, created: Set<String>)
        -> String?
    {
        let migrating = scope.phase == .migration
        func owns(_ name: String?) -> Bool {
            guard let name = name?.lowercased() else { return true }
            return scope.owned.contains(name) || created.contains(name)
        }
        func internalName(_ name: String?) -> Bool { name?.lowercased().hasPrefix("sluice_") ?? false }
        func table(_ verb: String, _ name: String?) -> String? {
            if internalName(name) { return "\(verb) the broker's table \(name!)" }
            if let name, schemaTables.contains(name.lowercased()) {
                return migrating ? nil : "\(verb) \(name) in a contract statement (only migrations change the schema)"
            }
            if let name, scope.projectionTables.contains(name.lowercased()) {
                return verb == "read"
                    ? "read projection table \(name): only query contracts of a plugin granted the projection's projection:<name>:read capability read it"
                    : "\(verb) projection table \(name): projections are read-only, only the broker writes them"
            }
            return owns(name) ? nil : "\(verb) table \(name ?? "?"), which plugin \(scope.plugin) does not own"
        }
        func schemaChange(_ verb: String, object: String?, on table: String?) -> String? {
            guard migrating else { return "\(verb) \(object ?? "") in a contract statement (only migrations change the schema)" }
            if internalName(object) || internalName(table) { return "\(verb) on the broker's tables" }
            return owns(table) ? nil : "\(verb) on \(table ?? "?"), which plugin \(scope.plugin) does not own"
        }
        switch action {
        case SQLITE_SELECT, SQLITE_RECURSIVE:
            return nil
        case SQLITE_READ:
            if let name = first?.lowercased(), scope.readable.contains(name) { return nil }
            return table("read", first)
        case SQLITE_INSERT:
            return table("insert into", first)
        case SQLITE_UPDATE:
            return table("update", first)
        case SQLITE_DELETE:
            return table("delete from", first)
        case SQLITE_CREATE_TABLE, SQLITE_CREATE_VIEW:
            return schemaChange("CREATE", object: first, on: nil)
        case SQLITE_CREATE_INDEX, SQLITE_CREATE_TRIGGER:
            return schemaChange("CREATE INDEX/TRIGGER \(first ?? "")", object: first, on: second)
        case SQLITE_DROP_TABLE, SQLITE_DROP_VIEW:
            return schemaChange("DROP", object: first, on: first)
        case SQLITE_DROP_INDEX, SQLITE_DROP_TRIGGER:
            return schemaChange("DROP \(first ?? "")", object: first, on: second)
        case SQLITE_ALTER_TABLE:
            return schemaChange("ALTER TABLE", object: second, on: second)
        case SQLITE_PRAGMA:
            let name = first?.lowercased() ?? ""
            guard safePragmas.contains(name) else { return "PRAGMA \(name) is not allowed in plugin SQL" }
            return second.map { owns($0) } ?? true ? nil : "PRAGMA \(name) on \(second!), which it does not own"
        case SQLITE_FUNCTION:
            let name = second?.lowercased() ?? ""
            return ["load_extension", "fts3_tokenizer"].contains(name) ? "function \(name) is not allowed" : nil
        case SQLITE_REINDEX, SQLITE_ANALYZE:
            // Rebuilding indexes or statistics changes no row; SQLite asks for it while creating an index.
            return migrating ? nil : "REINDEX and ANALYZE belong in migrations"
        case SQLITE_ATTACH, SQLITE_DETACH:
            return "ATTACH and DETACH are not allowed in plugin SQL"
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT:
            return "transaction control is the broker's (plugin SQL runs inside its transaction)"
        default:
            return "this kind of statement (SQLite action \(action)) is not allowed in plugin SQL"
        }
    }
}
