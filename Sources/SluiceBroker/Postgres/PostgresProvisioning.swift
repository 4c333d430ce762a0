public import Foundation
public import Logging
import PostgresNIO
import SluiceWire

/// Where an `exclusive-postgres` plugin's data lives on the server, and how it gets there.
///
/// Each plugin has a role of its own and two schemas:
///
/// - `plugin_<id>` (owned by the role): the plugin's tables, made by its migrations. Its
///   statements run as the role with `search_path` set to this schema, so the role's rights are
///   the isolation: it has none outside its schemas (PostgreSQL refuses, not a SQL parser).
/// - `sluice_<id>` (owned by the broker's administrative role): the idempotency ledger, the
///   command log, the migrations applied and the stream's epoch, written in the same transaction
///   as the data. The role may read them, append to the log and keep its ledger; it may not
///   rewrite or delete log rows.
///
/// The role's password is made by the broker (32 random bytes, hex), kept in
/// `<data-dir>/postgres/<id>.password` (0600) and set on the role at every provisioning: it never
/// leaves the broker.
public struct PostgresProvisioning {
    let plugin: String
    let server: PostgresServer
    let dataDirectory: URL
    /// `limits.connections`: the role's `CONNECTION LIMIT` (the broker itself uses two).
    let connectionLimit: Int
    let migrations: [Migration]
    let logger: Logger

    /// Names on the server for plugin `id`.
    static func role(_ id: String) -> String { "plugin_\(id)" }
    static func dataSchema(_ id: String) -> String { "plugin_\(id)" }
    static func bookkeepingSchema(_ id: String) -> String { "sluice_\(id)" }

    /// The longest plugin id an `exclusive-postgres` manifest may have: PostgreSQL truncates
    /// names past 63 bytes, and `plugin_` takes 7.
    static let maxPluginIDLength = 48

    var role: String { Self.role(plugin) }
    var dataSchema: String { Self.dataSchema(plugin) }
    var bookkeepingSchema: String { Self.bookkeepingSchema(plugin) }

    /// A migration file changed after it ran, or another refusal that no retry fixes.
    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    static func passwordFile(_ id: String, dataDirectory: URL) -> URL {
        dataDirectory.appendingPathComponent("postgres").appendingPathComponent("\(id).password")
    }

    /// The role's password, made on first use.
    func password() throws -> String {
        let file = Self.passwordFile(plugin, dataDirectory: dataDirectory)
        if let data = FileManager.default.contents(atPath: file.path), !data.isEmpty {
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return try Self.newPassword(plugin, dataDirectory: dataDirectory)
    }

    /// Writes a fresh password for `id`'s role (the next provisioning sets it on the server:
    /// `sluice plugins rotate-credentials`).
    @discardableResult
    public static func newPassword(_ id: String, dataDirectory: URL) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let password = bytes.map { String(format: "%02x", $0) }.joined()
        try DurableFile.createDirectory(dataDirectory.appendingPathComponent("postgres"))
        try DurableFile.write(Data(password.utf8), to: passwordFile(id, dataDirectory: dataDirectory))
        return password
    }

    /// Makes what is missing and sets what may have drifted, as the administrative role: the
    /// role (password, connection limit, no other rights), both schemas, the bookkeeping tables
    /// and their grants. Idempotent: run at every (re)connection of the plugin's writer.
    func provision(as admin: PostgresSession, password: String) throws {
        let role = PostgresSession.quoted(self.role)
        let data = PostgresSession.quoted(dataSchema)
        let books = PostgresSession.quoted(bookkeepingSchema)
        try admin.execute("BEGIN")
        do {
            // Two brokers never provision one plugin (a database has one owner), but an operator
            // may run `sluice doctor` meanwhile: take a lock so the checks below are not racy.
            try admin.execute("SELECT pg_advisory_xact_lock(hashtext($1))", binds(self.role))
            let exists = try admin.value(Int32.self, "SELECT 1 FROM pg_roles WHERE rolname = $1", binds(self.role)) != nil
            let attributes =
                "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT \(connectionLimit) PASSWORD \(PostgresSession.literal(password))"
            try admin.execute(exists ? "ALTER ROLE \(role) \(attributes)" : "CREATE ROLE \(role) \(attributes)")
            // The administrative role must be able to create objects owned by the plugin role.
            try admin.execute("GRANT \(role) TO CURRENT_USER")
            try admin.execute("CREATE SCHEMA IF NOT EXISTS \(data) AUTHORIZATION \(role)")
            try admin.execute("CREATE SCHEMA IF NOT EXISTS \(books)")
            try admin.execute(
                "GRANT CONNECT ON DATABASE \(PostgresSession.quoted(server.database)) TO \(role)")
            try admin.execute("GRANT USAGE ON SCHEMA \(books) TO \(role)")
            try admin.execute(
                """
                CREATE TABLE IF NOT EXISTS \(books).ledger (
                    actor text NOT NULL, idempotency_key text NOT NULL, payload_hash text NOT NULL,
                    seq bigint NOT NULL, status text NOT NULL, result text NOT NULL, committed_at text NOT NULL,
                    expires_ms bigint NOT NULL, PRIMARY KEY (actor, idempotency_key))
                """)
            try admin.execute("CREATE INDEX IF NOT EXISTS ledger_expiry ON \(books).ledger (expires_ms)")
            try admin.execute(
                """
                CREATE TABLE IF NOT EXISTS \(books).log (
                    seq bigint PRIMARY KEY, ts text NOT NULL, actor text NOT NULL, contract text NOT NULL,
                    idempotency_key text NOT NULL, request_id text NOT NULL, generated_id text NOT NULL,
                    payload text NOT NULL, status text NOT NULL, result text NOT NULL, changes text NOT NULL,
                    latency_us bigint NOT NULL, context text)
                """)
            try admin.execute(
                """
                CREATE TABLE IF NOT EXISTS \(books).migrations (
                    name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            try admin.execute("CREATE TABLE IF NOT EXISTS \(books).meta (key text PRIMARY KEY, value text NOT NULL)")
            try admin.execute(
                "INSERT INTO \(books).meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING",
                binds(UUID().uuidString.lowercased()))
            try admin.execute("REVOKE ALL ON ALL TABLES IN SCHEMA \(books) FROM \(role)")
            try admin.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON \(books).ledger TO \(role)")
            try admin.execute("GRANT SELECT, INSERT ON \(books).log, \(books).migrations TO \(role)")
            try admin.execute("GRANT SELECT ON \(books).meta TO \(role)")
            try admin.execute("COMMIT")
        } catch {
            admin.rollback()
            throw error
        }
    }

    /// Runs the plugin's pending migrations on its own session (as its role: a migration has the
    /// rights its plugin has, no more), each in a transaction with its record. A migration that
    /// ran with other contents is refused (``Refused``): the files must not change once run.
    func migrate(_ session: PostgresSession) throws {
        let books = PostgresSession.quoted(bookkeepingSchema)
        var applied: [String: String] = [:]
        for row in try session.execute("SELECT name, checksum FROM \(books).migrations") {
            let (name, checksum) = try row.decode((String, String).self)
            applied[name] = checksum
        }
        for migration in migrations.sorted(by: { $0.name < $1.name }) {
            if let checksum = applied[migration.name] {
                guard checksum == migration.checksum else {
                    throw Refused(
                        description:
                            "migration \(migration.name) of plugin \(plugin) changed after it ran (checksum \(checksum) in PostgreSQL, \(migration.checksum) on disk)")
                }
                continue
            }
            try session.execute("BEGIN")
            do {
                try session.executeScript(migration.sql)
                try session.execute(
                    "INSERT INTO \(books).migrations (name, checksum) VALUES ($1, $2)",
                    binds(migration.name, migration.checksum))
                try session.execute("COMMIT")
            } catch {
                session.rollback()
                guard error.isPostgresConnectionFailure else {
                    throw Refused(description: "migration \(migration.name) of plugin \(plugin) failed: \(error.postgresMessage)")
                }
                throw error
            }
            logger.info("migration applied", metadata: ["db": "\(plugin)", "migration": "\(migration.name)"])
        }
    }

    /// Drops removed plugin `id`'s schemas and role and forgets its password
    /// (`sluice plugins remove --purge`): by the broker once it serves without the plugin, or by
    /// the command itself when no broker runs.
    public static func purge(_ id: String, server: PostgresServer, dataDirectory: URL, logger: Logger) throws {
        let admin = try PostgresSession(
            server: server, username: server.username, password: server.password, searchPath: [],
            statementTimeoutMs: 10_000, logger: logger)
        defer { admin.close() }
        try PostgresProvisioning(
            plugin: id, server: server, dataDirectory: dataDirectory, connectionLimit: 1, migrations: [], logger: logger
        ).purge(as: admin)
    }

    /// Drops the plugin's schemas and role.
    func purge(as admin: PostgresSession) throws {
        let role = PostgresSession.quoted(self.role)
        try admin.execute("BEGIN")
        do {
            try admin.execute("DROP SCHEMA IF EXISTS \(PostgresSession.quoted(dataSchema)) CASCADE")
            try admin.execute("DROP SCHEMA IF EXISTS \(PostgresSession.quoted(bookkeepingSchema)) CASCADE")
            if try admin.value(Int32.self, "SELECT 1 FROM pg_roles WHERE rolname = $1", binds(self.role)) != nil {
                try admin.execute("REVOKE ALL ON DATABASE \(PostgresSession.quoted(server.database)) FROM \(role)")
                try admin.execute("DROP ROLE \(role)")
            }
            try admin.execute("COMMIT")
        } catch {
            admin.rollback()
            throw error
        }
        try? FileManager.default.removeItem(at: Self.passwordFile(plugin, dataDirectory: dataDirectory))
    }
}

/// Text values as a statement's parameters, in order.
func binds(_ values: String...) -> PostgresBindings {
    var bindings = PostgresBindings(capacity: values.count)
    for value in values { bindings.append(value) }
    return bindings
}
