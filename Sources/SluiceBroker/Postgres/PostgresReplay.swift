public import Foundation
public import Logging
import PostgresNIO
import SluiceWire

/// `sluice replay <id> --verify` for an `exclusive-postgres` plugin: its command log run again
/// into a scratch schema, every command's outcome checked against the log, then every table
/// compared with the live one — all in one REPEATABLE READ transaction of the plugin's role, so
/// the log, the live tables and the rebuilt ones are seen as of one snapshot, and nothing of the
/// rebuild outlives the check (the transaction is rolled back, the scratch schema dropped).
///
/// Deterministic as SQLite's replay is, with one difference PostgreSQL brings: a sequence
/// (`serial`, `identity`) is not transactional, so the values it gave commands that were retried
/// (a batch run again after a refused statement, a lost connection) are not reproduced — key
/// tables by `:_id`, fixed at admission, as `examples/postgres-notes` does.
public enum PostgresReplay {
    /// Replays plugin `id`'s log up to `toSeq` and compares (``LogReplayer/Report``).
    public static func verify(
        _ id: String, server: PostgresServer, registry: ContractRegistry, dataDirectory: URL, toSeq: Int64? = nil,
        logger: Logger, progress: ((_ replayed: Int, _ lastSeq: Int64) -> Void)? = nil
    ) throws -> LogReplayer.Report {
        guard registry.postgresDatabases.contains(id) else {
            throw LogReplayer.Failure(message: "\(id) is not an exclusive-postgres plugin's database")
        }
        let passwordFile = PostgresProvisioning.passwordFile(id, dataDirectory: dataDirectory)
        guard let password = FileManager.default.contents(atPath: passwordFile.path) else {
            throw LogReplayer.Failure(message: "\(id) has no role password in \(passwordFile.path): it was never provisioned")
        }
        let role = PostgresProvisioning.role(id)
        let scratch = "sluice_replay_\(id)"
        let live = PostgresSession.quoted(PostgresProvisioning.dataSchema(id))
        let books = PostgresSession.quoted(PostgresProvisioning.bookkeepingSchema(id))
        let admin = try PostgresSession(
            server: server, username: server.username, password: server.password, searchPath: [], statementTimeoutMs: 60_000,
            logger: logger)
        defer { admin.close() }
        try admin.execute("DROP SCHEMA IF EXISTS \(PostgresSession.quoted(scratch)) CASCADE")
        try admin.execute("CREATE SCHEMA \(PostgresSession.quoted(scratch)) AUTHORIZATION \(PostgresSession.quoted(role))")
        defer { _ = try? admin.execute("DROP SCHEMA IF EXISTS \(PostgresSession.quoted(scratch)) CASCADE") }

        let session = try PostgresSession(
            server: server, username: role,
            password: String(decoding: password, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
            searchPath: [scratch], statementTimeoutMs: 3_600_000, logger: logger)
        defer { session.close() }
        try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        defer { session.rollback() }
        // The snapshot: taken by this first read, before anything is rebuilt.
        let head = try session.value(Int64.self, "SELECT coalesce(max(seq), 0)::bigint FROM \(books).log") ?? 0
        let last = min(toSeq ?? head, head)
        for migration in (registry.migrations[id] ?? []).sorted(by: { $0.name < $1.name }) {
            try session.executeScript(migration.sql)
        }
        let replayer = LogReplayer(registry: registry, logger: logger)
        var contracts: [ContractID: PostgresContract] = [:]
        var replayed = 0
        var after: Int64 = 0
        while after < last {
            var page = PostgresBindings()
            page.append(after)
            page.append(last)
            let rows = try session.execute(
                "SELECT \(CommandLog.Row.columns()) FROM \(books).log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000", page)
            guard !rows.rows.isEmpty else { break }
            for row in rows {
                let logged = try CommandLog.Row(postgres: row)
                guard logged.seq == after + 1 else {
                    throw LogReplayer.Failure(message: "the log has a gap: seq \(after + 1) is missing before \(logged.seq)")
                }
                let command = try replayer.command(from: logged)
                let contract = contracts[command.contract.id] ?? PostgresContract(command.contract)
                contracts[command.contract.id] = contract
                try session.execute("SAVEPOINT sluice_replay")
                let result: CommandOutcome.Result
                do {
                    let value = try contract.run(command, in: session)
                    try session.execute("RELEASE SAVEPOINT sluice_replay")
                    result = .committed(Acknowledgement(db: id, seq: logged.seq, duplicate: false, result: value))
                } catch where !error.isPostgresConnectionFailure {
                    try session.execute("ROLLBACK TO SAVEPOINT sluice_replay")
                    let code: ErrorCode = error.postgresSQLState?.hasPrefix("23") == true ? .constraintViolation : .internal
                    result = .failed(WireError(code, error.postgresMessage))
                }
                try replayer.check(CommandOutcome(unpublished: command.token, result: result), against: logged)
                after = logged.seq
                replayed += 1
                if replayed % 1000 == 0 { progress?(replayed, last) }
            }
        }
        // Every table of the live schema against its rebuilt twin, row by row as JSON text (every
        // type has a text form; not every type has an equality operator).
        var differences: [String] = []
        let tables = try session.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
            binds(PostgresProvisioning.dataSchema(id)))
        for row in tables {
            let table = PostgresSession.quoted(try row.decode(String.self))
            let rebuilt = "\(PostgresSession.quoted(scratch)).\(table)"
            let exists = try session.value(
                Int64.self, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
                binds(scratch, try row.decode(String.self))) ?? 0
            guard exists > 0 else {
                differences.append("\(table): in the live schema, not made by the migrations")
                continue
            }
            let (missing, extra) = try session.execute(
                """
                SELECT (SELECT count(*) FROM (SELECT row_to_json(t)::text FROM \(live).\(table) t
                        EXCEPT ALL SELECT row_to_json(r)::text FROM \(rebuilt) r) d)::bigint,
                       (SELECT count(*) FROM (SELECT row_to_json(r)::text FROM \(rebuilt) r
                        EXCEPT ALL SELECT row_to_json(t)::text FROM \(live).\(table) t) d)::bigint
                """
            ).first!.decode((Int64, Int64).self)
            if missing > 0 || extra > 0 {
                differences.append("\(table): \(missing) live row(s) not rebuilt, \(extra) rebuilt row(s) not live")
            }
        }
        return LogReplayer.Report(replayed: replayed, lastSeq: last, differences: differences)
    }
}
