public import Foundation
import GRDB

/// `sluice projections rebuild`: refills a projection's table from its source, with the broker
/// stopped (it takes the data directory's lock, as migrations do). A running broker needs no
/// such step: it rebuilds at start whatever does not reflect its source exactly.
public enum ProjectionRebuild {
    /// Rebuilds `name` and returns what its table now reflects: (source seq, rows).
    public static func rebuild(_ name: String, registry: ContractRegistry, dataDirectory: URL) throws -> (
        sourceSeq: Int64, rows: Int64
    ) {
        guard let projection = registry.projections[name] else {
            throw ContractError(
                file: name,
                "no projection named \(name) (defined: \(registry.projections.keys.sorted().joined(separator: ", ")))")
        }
        let lock = try DataDirectoryLock(directory: dataDirectory)
        defer { lock.release() }
        try registry.checkProjections()
        let source = try DatabaseFile.open(projection.sourceDatabase, registry: registry, dataDirectory: dataDirectory)
        let target = try DatabaseFile.open(projection.targetDatabase, registry: registry, dataDirectory: dataDirectory)
        _ = try ProjectionTable.check(projection, source: source)
        let state = try target.pool.write { db in try ProjectionTable.refresh(projection, from: source, in: db) }
        return (state.sourceSeq, state.rows)
    }
}
