import ArgumentParser
import Foundation
import SluiceBroker

/// How a command names the PostgreSQL server of `exclusive-postgres` plugins: `serve`, and the
/// commands that reach it themselves (`doctor`, `replay`, `plugins remove --purge` without a
/// broker). The password is never an option (`ps` would show it).
struct PostgresOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The PostgreSQL server of exclusive-postgres plugins: postgres://user@host:port/database (no password in it).",
            discussion: "The role's password comes from --postgres-password-file or SLUICE_POSTGRES_PASSWORD."))
    var postgresURL: String?

    @Option(name: .long, help: "A file whose first line is that server's administrative password (else SLUICE_POSTGRES_PASSWORD).")
    var postgresPasswordFile: String?

    /// The server the options name (or, for what they leave out, the configuration file);
    /// nil when neither names one.
    func server(orURL fileURL: String? = nil, passwordFile filePasswordFile: URL? = nil) throws -> PostgresServer? {
        guard let url = postgresURL ?? fileURL else { return nil }
        do {
            return try PostgresServer(
                url: url,
                passwordFile: postgresPasswordFile.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? filePasswordFile)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The server, which `purpose` needs.
    func requiredServer(for purpose: String) throws -> PostgresServer {
        guard let server = try server() else {
            throw ValidationError("\(purpose): give --postgres-url (and --postgres-password-file)")
        }
        return server
    }
}
