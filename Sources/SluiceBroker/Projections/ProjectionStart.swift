import GRDB
import Logging

/// What the broker works out about its projections at start, before any writer runs.
struct ProjectionStart: Sendable {
    /// Per projection: the source tables its query reads (a commit changing one of them refreshes it).
    var regions: [String: DatabaseRegion] = [:]
    /// Per projection: the source seq its table reflects.
    var seqs: [String: Int64] = [:]

    /// No projections.
    init() {}

    /// Checks every projection's query against its source, then rebuilds each table that does not
    /// reflect its source exactly as it stands (never filled, definition changed, source history
    /// replaced, or behind — the broker stopped between a source commit and the refresh).
    init(_ projections: [Projection], databases: [String: DatabaseFile], logger: Logger) throws {
        for projection in projections.sorted(by: { $0.name < $1.name }) {
            guard let source = databases[projection.sourceDatabase], let target = databases[projection.targetDatabase]
            else { continue }
            regions[projection.name] = try ProjectionTable.check(projection, source: source)
            let state = try target.pool.read { db in try ProjectionTable.state(of: projection.name, in: db) }
            if let state, try ProjectionTable.isCurrent(state, projection, source: source) {
                seqs[projection.name] = state.sourceSeq
                continue
            }
            let rebuilt = try target.pool.write { db in try ProjectionTable.refresh(projection, from: source, in: db) }
            logger.info(
                "projection rebuilt",
                metadata: [
                    "projection": "\(projection.name)", "was": "\(state.map { String($0.sourceSeq) } ?? "never filled")",
                    "source_seq": "\(rebuilt.sourceSeq)", "rows": "\(rebuilt.rows)",
                ])
            seqs[projection.name] = rebuilt.sourceSeq
        }
    }
}
