import ArgumentParser
import Foundation
import Logging
import SluiceBroker

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild a database by running its command log again into a new file.",
        discussion: """
            Example: sluice replay tasks --into /tmp/rebuilt/tasks.db --verify
            The new file gets the contract set's migrations, then every logged command in seq order, through the \
            same code the broker's writer runs, with the timestamps and ids fixed when the command was admitted. \
            Every command must give the result the log recorded. --verify then compares every user table with the \
            live database (as of the snapshot the log was read from) and exits 1 on any difference. Safe while \
            a broker is serving: it only reads the live file.
            """
    )

    @Argument(help: "The database to rebuild, e.g. tasks.")
    var db: String

    @Option(name: .long, help: "The new file; must be named <db>.db and not exist yet (SQLite databases).")
    var into: String?

    @OptionGroup var postgres: PostgresOptions

    @Option(name: .long, help: "Stop after this seq (default: the whole log).")
    var toSeq: Int64?

    @Flag(name: .long, help: "Compare the rebuilt tables with the live database; exit 1 on any difference.")
    var verify = false

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue, help: "Contract set directories, as for serve. Default: examples/tasks.")
    var contracts: [String] = []

    func run() async throws {
        // With the installed plugins: a plugin database's migrations are theirs, and its file is
        // plugins.db or plugins/<id>.db.
        let registry = try loadRegistry(dataDir: dataDir, contracts: contracts)
        if registry.postgresDatabases.contains(db) {
            try verifyOnPostgres(registry)
            return
        }
        guard let into else { throw ValidationError("--into is required: the new <db>.db file") }
        let source = URL(fileURLWithPath: dataDir).standardizedFileURL.appendingPathComponent(registry.file(of: db))
        guard FileManager.default.fileExists(atPath: source.path) else {
            throw ValidationError("no database \(source.path)")
        }
        var logger = Logger(label: "sluice.replay")
        logger.logLevel = .warning
        let started = Date()
        let progress = ProgressLine("replay")
        let report = try LogReplayer(registry: registry, logger: logger).replay(
            database: source, into: URL(fileURLWithPath: into).standardizedFileURL, toSeq: toSeq, verify: verify
        ) { replayed, last in progress.update("\(replayed) commands run, up to seq \(last)") }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        print(
            "replayed \(report.replayed) commands (seq 1…\(report.lastSeq)) into \(into) in \(String(format: "%.2f", seconds)) s"
                + " (\(String(format: "%.0f", Double(report.replayed) / max(seconds, 0.001))) commands/s)"
        )
        try Self.show(report, verify: verify)
    }

    /// An exclusive-postgres database: replayed into a scratch schema on its server and compared
    /// there; nothing is kept.
    private func verifyOnPostgres(_ registry: ContractRegistry) throws {
        guard verify, into == nil else {
            throw ValidationError(
                "\(db) is an exclusive-postgres database: its replay is checked in PostgreSQL and not kept; run it with --verify and without --into")
        }
        let server = try postgres.requiredServer(for: "\(db) is an exclusive-postgres database")
        var logger = Logger(label: "sluice.replay")
        logger.logLevel = .warning
        let started = Date()
        let progress = ProgressLine("replay")
        let report = try PostgresReplay.verify(
            db, server: server, registry: registry, dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL,
            toSeq: toSeq, logger: logger
        ) { replayed, last in progress.update("\(replayed) commands run, up to seq \(last)") }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        print(
            "replayed \(report.replayed) commands (seq 1…\(report.lastSeq)) into a scratch schema in \(String(format: "%.2f", seconds)) s"
                + " (\(String(format: "%.0f", Double(report.replayed) / max(seconds, 0.001))) commands/s)")
        try Self.show(report, verify: true)
    }

    private static func show(_ report: LogReplayer.Report, verify: Bool) throws {
        guard verify else { return }
        if report.differences.isEmpty {
            print("verify: every table is identical to the live database")
        } else {
            for difference in report.differences { print("verify: \(difference)") }
            throw ExitCode(1)
        }
    }
}
