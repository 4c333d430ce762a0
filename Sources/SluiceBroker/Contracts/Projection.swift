import Foundation
public import SluiceWire

/// An operator's projection: a read-only query over one database whose rows the broker keeps
/// copied into a table of a plugin's database, refreshed after every commit that changes what the
/// query reads (docs/projections.md). A contract set holds them in `projections/*.json`:
///
/// ```json
/// {"name": "open_tasks",
///  "source": {"db": "tasks", "query": "SELECT id, title FROM tasks WHERE done = :done", "params": {"done": 0}},
///  "target": {"db": "alpha", "table": "open_tasks"},
///  "columns": ["id", "title"]}
/// ```
///
/// Plugins whose manifest grants ``capability`` (`projection:<name>:read`) may read the table;
/// nobody but the broker writes it.
public struct Projection: Sendable, Equatable {
    public var name: String
    public var sourceDatabase: String
    /// A read-only statement; its result columns are ``columns``, in order.
    public var query: String
    /// Values bound to the query's `:name` parameters, fixed in the file.
    public var parameters: [String: JSONValue]
    public var targetDatabase: String
    public var table: String
    public var columns: [String]
    /// SHA-256 of the document's canonical JSON: a changed definition rebuilds the table.
    public var checksum: String
    /// The file it came from, for errors.
    public var file: String

    /// Who may read the table: plugins whose manifest lists this capability.
    public var capability: String { "projection:\(name):read" }

    static let knownMembers: Set<String> = ["name", "description", "source", "target", "columns", "$schema"]
    /// At most this many columns (a projection is a slice, not a copy of everything).
    public static let maximumColumns = 100

    public init(json: JSONValue, file: String) throws(ContractError) {
        func fail(_ reason: String) -> ContractError { ContractError(file: file, reason) }
        guard let members = json.objectMembers else { throw fail("a projection must be a JSON object") }
        for key in members.keys where !Projection.knownMembers.contains(key) {
            throw fail("'\(key)' is not a projection member (name, description, source, target, columns)")
        }
        guard let name = members["name"]?.stringValue, Projection.isIdentifier(name) else {
            throw fail("'name' must be 1-64 characters of [a-z0-9_], starting with a letter")
        }
        guard let source = members["source"]?.objectMembers, let sourceDatabase = source["db"]?.stringValue,
            Contract.isValidDatabaseName(sourceDatabase)
        else {
            throw fail("'source.db' must name a contract set's database")
        }
        for key in source.keys where !["db", "query", "params"].contains(key) {
            throw fail("'source.\(key)' is not a source member (db, query, params)")
        }
        guard let query = source["query"]?.stringValue, !query.trimmingCharacters(in: .whitespaces).isEmpty,
            query.utf8.count <= 16_384
        else {
            throw fail("'source.query' must be one read-only SQL statement (at most 16 KiB)")
        }
        var parameters: [String: JSONValue] = [:]
        if let given = source["params"] {
            guard let object = given.objectMembers else { throw fail("'source.params' must be an object") }
            for key in object.keys {
                switch object[key]! {
                case .string, .int, .double, .bool, .null: parameters[key] = object[key]!
                default: throw fail("'source.params.\(key)' must be a string, number, boolean or null")
                }
            }
        }
        guard let target = members["target"]?.objectMembers, let targetDatabase = target["db"]?.stringValue,
            let table = target["table"]?.stringValue
        else {
            throw fail("'target' must name a plugin's database and a table: {\"db\": \"alpha\", \"table\": \"open_tasks\"}")
        }
        for key in target.keys where !["db", "table"].contains(key) {
            throw fail("'target.\(key)' is not a target member (db, table)")
        }
        guard targetDatabase != sourceDatabase else {
            throw fail("the target database must not be the source database")
        }
        guard Projection.isIdentifier(table), !table.hasPrefix("sluice_"), !table.hasPrefix("sqlite_") else {
            throw fail("'target.table' must be 1-64 characters of [a-z0-9_], starting with a letter, and not sluice_* or sqlite_*")
        }
        guard let columnList = members["columns"]?.arrayValue, !columnList.isEmpty,
            columnList.count <= Projection.maximumColumns
        else {
            throw fail("'columns' must list the query's result columns (1 to \(Projection.maximumColumns))")
        }
        var columns: [String] = []
        for (index, entry) in columnList.enumerated() {
            guard let column = entry.stringValue, Projection.isIdentifier(column), !columns.contains(column) else {
                throw fail("'columns[\(index)]' must be a distinct name of [a-z0-9_], starting with a letter")
            }
            columns.append(column)
        }
        self.name = name
        self.sourceDatabase = sourceDatabase
        self.query = query
        self.parameters = parameters
        self.targetDatabase = targetDatabase
        self.table = table
        self.columns = columns
        self.checksum = SHA256.hexDigest(json.canonicalBytes())
        self.file = file
    }

    /// `[a-z][a-z0-9_]{0,63}`: safe to quote into SQL and to use in a capability.
    static func isIdentifier(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first >= 0x61, first <= 0x7A, bytes.count <= 64 else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    /// The target table, as the broker creates it: untyped columns, so every value keeps the type
    /// the source query gave it.
    var createTableSQL: String {
        "CREATE TABLE \"\(table)\" (\(columns.map { "\"\($0)\"" }.joined(separator: ", ")))"
    }

    var insertSQL: String {
        "INSERT INTO \"\(table)\" VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))"
    }
}
