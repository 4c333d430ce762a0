public import Foundation
import GRDB
public import SluiceWire

/// A data directory's whole audit trail of commands, per database: the archive segments
/// compactions wrote, then the log rows still in the database. What `sluice audit verify` checks.
public enum AuditTrail {
    /// One database's trail, as verified.
    public struct Report: Sendable {
        public var stream: String
        public var segments: Int
        /// Seqs held by the archive (nil when it is empty).
        public var archived: ClosedRange<Int64>?
        /// The first seq the log still holds, and its last (`logFirst > logLast` when empty).
        public var logFirst: Int64
        public var logLast: Int64
        public var problems: [String]

        public var json: JSONValue {
            [
                "stream": .string(stream), "segments": .int(Int64(segments)),
                "archived_first_seq": archived.map { .int($0.lowerBound) } ?? .null,
                "archived_last_seq": archived.map { .int($0.upperBound) } ?? .null,
                "log_first_seq": .int(logFirst), "log_last_seq": .int(logLast),
                "problems": .array(problems.map(JSONValue.string)),
            ]
        }
    }

    /// Verifies every database of `dataDirectory` that has a command log: its archive's chain, the
    /// archive's anchor in the database, and that the log takes over where the archive ends (no
    /// seq missing between them). Reads the files only; a broker may be serving meanwhile.
    public static func verify(dataDirectory: URL) throws -> [Report] {
        var reports = try databases(in: dataDirectory).map { url in
            let (anchorSeq, anchorHash, logFirst, logLast) = try read(url) { db in
                (
                    try DatabaseFile.meta("audit_archived_seq", in: db),
                    try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'audit_archive_sha256'"),
                    try DatabaseFile.firstLoggedSeq(in: db),
                    try DatabaseFile.lastSeq(in: db)
                )
            }
            return report(
                AuditArchive(databaseAt: url), file: url.lastPathComponent, anchorSeq: anchorSeq, anchorHash: anchorHash,
                logFirst: logFirst, logLast: logLast)
        }
        // Refused requests (audit.rejected), kept in audit.db and archived beyond its retention.
        let audit = dataDirectory.appendingPathComponent("audit.db")
        if FileManager.default.fileExists(atPath: audit.path) {
            let (anchorSeq, anchorHash, first, last) = try read(audit) { db -> (Int64?, String?, Int64?, Int64) in
                guard try db.tableExists("rejections") else { return (nil, nil, nil, 0) }
                return (
                    try DatabaseFile.meta("audit_archived_seq", in: db),
                    try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'audit_archive_sha256'"),
                    try Int64.fetchOne(db, sql: "SELECT min(seq) FROM rejections"),
                    try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM rejections") ?? 0
                )
            }
            let archive = AuditArchive(
                directory: dataDirectory.appendingPathComponent("audit-archive").appendingPathComponent(
                    RejectionAuditor.stream),
                stream: RejectionAuditor.stream)
            // An empty table holds nothing yet to come: the next record follows the archive.
            let logFirst = first ?? ((anchorSeq ?? 0) + 1)
            reports.append(
                report(
                    archive, file: "audit.db", anchorSeq: anchorSeq, anchorHash: anchorHash, logFirst: logFirst,
                    logLast: max(last, logFirst - 1)))
        }
        return reports
    }

    private static func read<T>(_ url: URL, _ body: (Database) throws -> T) throws -> T {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: url.path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read(body)
    }

    private static func report(
        _ archive: AuditArchive, file: String, anchorSeq: Int64?, anchorHash: String?, logFirst: Int64, logLast: Int64
    ) -> Report {
        let anchor = anchorSeq.flatMap { seq in anchorHash.map { (sha256: $0, lastSeq: seq) } }
        var problems = archive.verify(anchor: anchor)
        let headers = archive.segmentFiles().compactMap { file in
            (try? Data(contentsOf: file)).flatMap(AuditArchive.header(of:))
        }
        let archived = headers.first.flatMap { first in headers.last.map { first.firstSeq...$0.lastSeq } }
        // Seqs before the first one kept must all be in the archive.
        let archivedUpTo = archived?.upperBound ?? 0
        if logFirst > archivedUpTo + 1 {
            problems.append("\(file): seqs \(archivedUpTo + 1)…\(logFirst - 1) are neither kept nor in the archive")
        }
        if let archived, archived.lowerBound != 1 {
            problems.append("\(file): the archive starts at seq \(archived.lowerBound), not 1")
        }
        return Report(
            stream: archive.stream, segments: headers.count, archived: archived, logFirst: logFirst, logLast: logLast,
            problems: problems)
    }

    /// The databases of a data directory that keep a command log.
    static func databases(in dataDirectory: URL) throws -> [URL] {
        let files = FileManager.default
        var found: [URL] = []
        for parent in [dataDirectory, dataDirectory.appendingPathComponent("plugins")] {
            let names = ((try? files.contentsOfDirectory(atPath: parent.path)) ?? []).filter { $0.hasSuffix(".db") }
            for name in names.sorted() {
                let url = parent.appendingPathComponent(name)
                var configuration = Configuration()
                configuration.readonly = true
                guard let queue = try? DatabaseQueue(path: url.path, configuration: configuration) else { continue }
                let hasLog = (try? queue.read { db in try db.tableExists("sluice_log") }) ?? false
                try? queue.close()
                if hasLog { found.append(url) }
            }
        }
        return found
    }
}
