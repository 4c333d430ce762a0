public import Foundation
import GRDB
public import SluiceWire

/// Reading the read audit (`reads` in `<data-dir>/audit.db`), for `sluice audit reads`.
public enum ReadAudit {
    /// The stored records in seq order, filtered; read-only, beside a serving broker.
    public static func records(dataDirectory: URL, actor: String?, database: String?, since: String?) throws
        -> [JSONValue]
    {
        let file = dataDirectory.appendingPathComponent("audit.db")
        guard FileManager.default.fileExists(atPath: file.path) else { return [] }
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: file.path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in
            guard try db.tableExists("reads") else { return [] }
            let texts = try String.fetchAll(
                db,
                sql: """
                    SELECT record FROM reads
                    WHERE (?1 IS NULL OR json_extract(record, '$.actor') = ?1)
                      AND (?2 IS NULL OR json_extract(record, '$.db') = ?2)
                      AND ts >= ?3
                    ORDER BY seq
                    """,
                arguments: [actor, database, since ?? ""])
            return try texts.map { try JSONValue(parsing: $0) }
        }
    }
}
