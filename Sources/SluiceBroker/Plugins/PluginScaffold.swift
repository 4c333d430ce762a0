public import Foundation

/// `sluice plugins create`: a plugin folder to edit, valid as it is.
public enum PluginScaffold {
    /// Writes `<parent>/<id>/` with a manifest, one command contract and its migration.
    public static func create(id: String, mode: PluginManifest.DatabaseMode, in parent: URL) throws -> URL {
        guard TokenStore.isValidName(id), id != TokenStore.operatorName, id != "plugins" else {
            throw PluginManifest.Invalid(
                field: "id", reason: "must be 1-64 characters of [a-z0-9-], and not 'local' or 'plugins'")
        }
        let directory = parent.appendingPathComponent(id)
        guard !FileManager.default.fileExists(atPath: directory.path) else {
            throw PluginManifest.Invalid(field: "id", reason: "\(directory.path) already exists")
        }
        let word = id.replacingOccurrences(of: "-", with: "_")
        let contractName = "\(id).item.create"
        let table = "\(word)_items"
        for folder in ["contracts", "migrations"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let manifest = """
            {
              "id": "\(id)",
              "version": "0.1.0",
              "description": "Edit me: what this plugin does.",
              "capabilities": ["data:\(word):create"],
              "contracts": ["\(contractName)@v1"],
              "database": {"mode": "\(mode.rawValue)"},
              "limits": {"storage_mb": 64, "max_in_flight": 256, "rate_per_second": 500, "timeout_ms": 5000},
              "audit": {"level": "metadata"}
            }

            """
        let contract = """
            {
              "name": "\(contractName)",
              "version": "v1",
              "kind": "command",
              "description": "Create an item.",
              "capability": "data:\(word):create",
              "input": {
                "type": "object",
                "required": ["title"],
                "additionalProperties": false,
                "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200}}
              },
              "statements": [
                "INSERT INTO \(table)(id, title, created_at, created_by) VALUES (:_id, :title, :_now, :_actor) RETURNING id, title"
              ],
              "invalidates": ["\(table)"]
            }

            """
        let migration = """
            CREATE TABLE \(table) (
                id TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL
            );

            """
        try manifest.write(to: directory.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
        try contract.write(
            to: directory.appendingPathComponent("contracts/\(contractName).v1.json"), atomically: true, encoding: .utf8
        )
        try migration.write(
            to: directory.appendingPathComponent("migrations/001_create_\(table).sql"), atomically: true,
            encoding: .utf8
        )
        return directory
    }
}
