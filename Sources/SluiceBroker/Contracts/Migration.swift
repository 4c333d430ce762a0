public import Foundation
public import SluiceWire

/// One forward-only schema step for a database, identified by its file name and checksummed so a
/// file edited after it ran is detected.
public struct Migration: Sendable, Equatable {
    /// File name, e.g. `001_create_tasks.sql`; migrations run in name order.
    public var name: String
    public var sql: String
    /// SHA-256 of the file's bytes, hex.
    public var checksum: String
    /// The plugin that ships it (its SQL runs confined to that plugin's tables), or nil for an
    /// operator's contract set.
    public var plugin: String?

    public init(name: String, sql: String, plugin: String? = nil) {
        self.name = name
        self.sql = sql
        self.plugin = plugin
        self.checksum = SHA256.hexDigest(Array(sql.utf8))
    }
}
