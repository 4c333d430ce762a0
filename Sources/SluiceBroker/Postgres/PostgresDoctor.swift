public import Foundation
public import Logging
import PostgresNIO

/// `sluice doctor --postgres-url …`: what the server says about each `exclusive-postgres`
/// plugin — reachable, its role holding no right beyond its schemas, its migrations as on disk.
/// Read-only, as the administrative role.
public enum PostgresDoctor {
    public struct Finding: Sendable, Equatable {
        /// `ok`, `warning` or `problem`, as the other checks of `sluice doctor`.
        public var level: String
        public var message: String
    }

    /// The findings for plugin `id` (its migrations as the registry loaded them from disk).
    public static func check(_ id: String, server: PostgresServer, migrations: [Migration], logger: Logger) -> [Finding] {
        let admin: PostgresSession
        do {
            admin = try PostgresSession(
                server: server, username: server.username, password: server.password, searchPath: [],
                statementTimeoutMs: 10_000, logger: logger)
        } catch {
            return [Finding(level: "problem", message: "\(id): PostgreSQL \(server) cannot be reached: \(error.postgresMessage)")]
        }
        defer { admin.close() }
        do {
            return try findings(id, admin, migrations)
        } catch {
            return [Finding(level: "problem", message: "\(id): PostgreSQL answered with an error: \(error.postgresMessage)")]
        }
    }

    private static func findings(_ id: String, _ admin: PostgresSession, _ migrations: [Migration]) throws -> [Finding] {
        let role = PostgresProvisioning.role(id)
        let data = PostgresProvisioning.dataSchema(id)
        let books = PostgresProvisioning.bookkeepingSchema(id)
        var found: [Finding] = []
        guard
            let row = try admin.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1",
                binds(role)
            ).first
        else {
            return [Finding(level: "warning", message: "\(id): role \(role) does not exist yet (the broker provisions it when it connects)")]
        }
        let (superuser, createRole, createDB, replication, bypassRLS) = try row.decode((Bool, Bool, Bool, Bool, Bool).self)
        if superuser || createRole || createDB || replication || bypassRLS {
            found.append(
                Finding(
                    level: "problem",
                    message:
                        "\(id): role \(role) has attributes beyond LOGIN (superuser \(superuser), createrole \(createRole), createdb \(createDB), replication \(replication), bypassrls \(bypassRLS)); the broker resets them at its next connection"))
        }
        // Rights granted on tables outside its two schemas.
        let foreign = try admin.value(
            Int64.self,
            """
            SELECT count(*) FROM information_schema.role_table_grants
            WHERE grantee = $1 AND table_schema NOT IN ($2, $3)
            """, binds(role, data, books)) ?? 0
        if foreign > 0 {
            found.append(
                Finding(level: "problem", message: "\(id): role \(role) holds \(foreign) grant(s) on tables outside \(data) and \(books)"))
        }
        // Its membership in other roles would lend it their rights.
        let memberships = try admin.value(
            Int64.self,
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1", binds(role)) ?? 0
        if memberships > 0 {
            found.append(Finding(level: "problem", message: "\(id): role \(role) is a member of \(memberships) other role(s)"))
        }
        if found.isEmpty {
            found.append(Finding(level: "ok", message: "\(id): role \(role) holds no right outside \(data) and \(books)"))
        }
        let booksExist = try admin.value(
            Int64.self, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'migrations'", binds(books)) ?? 0
        guard booksExist > 0 else {
            found.append(Finding(level: "warning", message: "\(id): \(books).migrations does not exist yet"))
            return found
        }
        var applied: [String: String] = [:]
        for row in try admin.execute("SELECT name, checksum FROM \(PostgresSession.quoted(books)).migrations") {
            let (name, checksum) = try row.decode((String, String).self)
            applied[name] = checksum
        }
        var drift = false
        for migration in migrations.sorted(by: { $0.name < $1.name }) {
            if let checksum = applied[migration.name], checksum != migration.checksum {
                found.append(Finding(level: "problem", message: "\(id): migration \(migration.name) changed after it ran"))
                drift = true
            } else if applied[migration.name] == nil {
                found.append(Finding(level: "warning", message: "\(id): migration \(migration.name) has not run yet"))
                drift = true
            }
        }
        if !drift {
            found.append(Finding(level: "ok", message: "\(id): \(applied.count) migration(s) applied, as on disk"))
        }
        return found
    }
}
