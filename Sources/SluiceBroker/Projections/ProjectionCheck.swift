public import Foundation
import GRDB
public import SluiceWire

/// How a projection's table stands against its source, for `sluice projections list | verify`:
/// both files are read through read-only connections, so it works while a broker serves them.
public struct ProjectionCheck: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        /// The table holds exactly the query's rows at the seq it records, and that is the source's seq.
        case exact
        /// The source has committed past the recorded seq (a refresh is due or running).
        case behind
        /// Never filled, or filled from another definition or another history of the source.
        case stale
        /// Same seq as the source, different rows: the table drifted.
        case drift
    }

    public var name: String
    public var target: String
    public var source: String
    /// The source seq the table reflects (nil when never filled).
    public var reflectedSeq: Int64?
    public var sourceSeq: Int64
    public var rows: Int64
    public var verdict: Verdict
    /// Rows the query yields that the table lacks, and rows the table has that the query does not
    /// yield (with `compareRows`).
    public var missingRows = 0
    public var extraRows = 0
    public var refreshedAt: String?

    /// Counts `statement`'s rows by their values, read through SQLite's C API: text whole (GRDB's
    /// rows stop at a NUL, and two rows differing only after one would count as the same).
    private static func count(_ statement: Statement, in db: Database, into rows: inout [[JSONValue]: Int]) throws {
        try statement.forEachRowDirect(in: db) { handle in
            rows[Statement.jsonValues(handle), default: 0] += 1
        }
    }

    /// Reads the projection's state and the source's seq; with `compareRows`, also runs the query
    /// fresh and compares its rows with the table's, as multisets.
    public static func check(
        _ projection: Projection, registry: ContractRegistry, dataDirectory: URL, compareRows: Bool
    ) throws -> ProjectionCheck {
        let target = try readOnly(registry.file(of: projection.targetDatabase), in: dataDirectory)
        let source = try readOnly(registry.file(of: projection.sourceDatabase), in: dataDirectory)
        // The table first: a commit to the source after this read shows as `behind`, never as drift.
        let (state, tableRows) = try target.read { db in
            let state = try ProjectionTable.state(of: projection.name, in: db)
            var rows: [[JSONValue]: Int] = [:]
            if compareRows, state != nil {
                try count(try db.makeStatement(sql: "SELECT * FROM \"\(projection.table)\""), in: db, into: &rows)
            }
            return (state, rows)
        }
        let (sourceSeq, sourceEpoch, queryRows) = try source.read { db in
            let seq = try DatabaseFile.lastSeq(in: db)
            let epoch = try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'epoch'") ?? ""
            var rows: [[JSONValue]: Int] = [:]
            if compareRows, let state, state.sourceSeq == seq {
                let statement = try db.makeStatement(sql: projection.query)
                try statement.setArguments(ProjectionTable.arguments(projection, statement))
                try count(statement, in: db, into: &rows)
            }
            return (seq, epoch, rows)
        }
        var check = ProjectionCheck(
            name: projection.name, target: "\(projection.targetDatabase).\(projection.table)",
            source: projection.sourceDatabase, reflectedSeq: state?.sourceSeq, sourceSeq: sourceSeq,
            rows: state?.rows ?? 0, verdict: .exact, refreshedAt: state?.refreshedAt)
        guard let state, state.checksum == projection.checksum, state.sourceEpoch == sourceEpoch else {
            check.verdict = Verdict.stale
            return check
        }
        guard state.sourceSeq == sourceSeq else {
            check.verdict = Verdict.behind
            return check
        }
        if compareRows {
            for (row, count) in queryRows { check.missingRows += max(0, count - (tableRows[row] ?? 0)) }
            for (row, count) in tableRows { check.extraRows += max(0, count - (queryRows[row] ?? 0)) }
            if check.missingRows + check.extraRows > 0 { check.verdict = Verdict.drift }
        }
        return check
    }

    static func readOnly(_ file: String, in dataDirectory: URL) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        return try DatabaseQueue(path: dataDirectory.appendingPathComponent(file).path, configuration: configuration)
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "name": .string(name), "target": .string(target), "source": .string(source),
            "source_seq": .int(sourceSeq), "rows": .int(rows), "verdict": .string("\(verdict)"),
            "reflected_seq": reflectedSeq.map(JSONValue.int) ?? .null,
            "refreshed_at": refreshedAt.map(JSONValue.string) ?? .null,
        ]
        if verdict == .drift {
            members["missing_rows"] = .int(Int64(missingRows))
            members["extra_rows"] = .int(Int64(extraRows))
        }
        return .object(JSONObject(members))
    }
}
