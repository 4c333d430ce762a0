public import Foundation

/// The PostgreSQL server that holds the broker's `exclusive-postgres` databases
/// (`postgres.url` in the configuration file, `--postgres-url` on the command line), reached as
/// an administrative role that provisions each plugin's schemas and role.
///
/// The administrative password comes from a file (`postgres.password_file`,
/// `--postgres-password-file`) or the environment (`SLUICE_POSTGRES_PASSWORD`), never from the
/// URL, a manifest or the command line, where `ps` and shell histories would show it.
public struct PostgresServer: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The database the plugins' schemas live in.
    public var database: String
    /// The administrative role: it creates roles and schemas (`CREATEROLE`, and `CREATE` on
    /// `database`).
    public var username: String
    public var password: String?

    /// The environment variable read when no password file is given.
    public static let passwordVariable = "SLUICE_POSTGRES_PASSWORD"

    /// A URL that cannot be used, and why.
    public struct Invalid: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { "postgres.url: \(reason)" }
    }

    public init(host: String, port: Int = 5432, database: String, username: String, password: String?) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    /// Parses `postgres://user@host:port/database` (`postgresql://` too). The password is read
    /// from `passwordFile` when given (its first line), else from ``passwordVariable``.
    public init(url text: String, passwordFile: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws
    {
        guard let components = URLComponents(string: text), components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw Invalid(reason: "must look like postgres://user@host:port/database, not \(text)")
        }
        guard components.password == nil else {
            throw Invalid(
                reason: "carries a password; give it in postgres.password_file or \(Self.passwordVariable) instead")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(reason: "names no host") }
        guard let user = components.user, !user.isEmpty else { throw Invalid(reason: "names no user (postgres://user@host/database)") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw Invalid(reason: "names no database (postgres://user@host:port/database)")
        }
        var password: String?
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile.path) else {
                throw Invalid(reason: "the password file \(passwordFile.path) cannot be read")
            }
            password = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        } else {
            password = environment[Self.passwordVariable]
        }
        self.init(host: host, port: components.port ?? 5432, database: database, username: user, password: password)
    }

    /// The URL without its password (there never is one in it).
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}
