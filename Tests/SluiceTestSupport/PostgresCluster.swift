public import Foundation
public import SluiceBroker
import SluiceZMQ

/// A real PostgreSQL server for a test: a cluster made by Debian's `initdb` in a temp directory,
/// served by `pg_ctl` on a free loopback port, stopped and removed when the value is released.
///
/// PostgreSQL refuses to run as root, so when the tests do, the cluster is made and run as
/// `nobody` (`runuser`). The administrative role `sluice_admin` logs in over tcp with a
/// password (scram-sha-256), as the broker will in production; the cluster's own socket
/// directory trusts local connections, for the test's own `psql` checks.
public final class PostgresCluster: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let port: Int
    public let password: String
    public static let adminRole = "sluice_admin"
    public static let database = "sluice"
    private let binaries: URL
    private var running = false

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The server as a broker's configuration names it.
    public var server: PostgresServer {
        PostgresServer(host: "127.0.0.1", port: port, database: Self.database, username: Self.adminRole, password: password)
    }

    var dataPath: String { directory.path("cluster").path }
    var socketPath: String { directory.url.path }

    /// Makes the cluster and starts it (with a database `sluice`).
    public init() throws {
        guard let binaries = Self.findBinaries() else {
            throw Failure(
                description:
                    "PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql (.ci/run does)")
        }
        self.binaries = binaries
        directory = TemporaryDirectory()
        port = try LoopbackPort.free()
        password = UUID().uuidString.lowercased()
        let passwordFile = directory.path("pwfile")
        try password.write(to: passwordFile, atomically: true, encoding: .utf8)
        if geteuid() == 0 {
            // nobody must reach and own the cluster's directory.
            chmod(directory.url.path, 0o755)
            _ = chown(directory.url.path, 65534, 65534)
            _ = chown(passwordFile.path, 65534, 65534)
        }
        try run(
            "initdb", "-D", dataPath, "-U", Self.adminRole, "--pwfile=\(passwordFile.path)", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        try start()
        try psql("CREATE DATABASE \(Self.database)", database: "postgres")
    }

    deinit { try? stop(immediately: true) }

    /// Starts the server and waits until it accepts connections.
    public func start() throws {
        try run(
            "pg_ctl", "-D", dataPath, "-l", directory.path("server.log").path, "-w", "-t", "60", "-o",
            "-p \(port) -k \(socketPath) -c listen_addresses=127.0.0.1 -c max_connections=50", "start")
        running = true
    }

    /// Stops the server: `immediately` is `-m immediate` (like a crash: no checkpoint), else a
    /// fast shutdown that ends open sessions.
    public func stop(immediately: Bool = false) throws {
        guard running else { return }
        running = false
        try run("pg_ctl", "-D", dataPath, "-w", "-t", "60", "-m", immediately ? "immediate" : "fast", "stop")
    }

    /// Runs `sql` as the administrative role through the cluster's local socket; returns what
    /// `psql -At` printed (rows one per line, columns separated by `|`).
    @discardableResult
    public func psql(_ sql: String, database: String = PostgresCluster.database) throws -> String {
        try run(
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", socketPath, "-p", "\(port)", "-U", Self.adminRole, "-d",
            database, "-c", sql)
    }

    /// Runs `sql` as `role` with `password` over tcp, as a plugin's own session would; throws
    /// with PostgreSQL's message when the server refuses it.
    @discardableResult
    public func psql(_ sql: String, as role: String, password: String) throws -> String {
        try run(
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
            "postgresql://\(role):\(password)@127.0.0.1:\(port)/\(Self.database)")
    }

    @discardableResult
    private func run(_ program: String, _ arguments: String...) throws -> String {
        try run(program, arguments)
    }

    /// Runs one of the server's programs (`pgbench`, `psql`…) as the cluster's owner, against
    /// the cluster's local socket when `local` (with `-h <socket dir> -p <port> -U sluice_admin`
    /// put first); returns what it printed, or throws with it.
    @discardableResult
    public func run(_ program: String, _ arguments: [String], local: Bool = false) throws -> String {
        let arguments = local ? ["-h", socketPath, "-p", "\(port)", "-U", Self.adminRole] + arguments : arguments
        let executable = binaries.appendingPathComponent(program)
        let child =
            geteuid() == 0
            // In the cluster's directory: nobody may not enter the test's own working directory
            // (a clone in a 0700 temp directory), and psql would say so on every call.
            ? try ChildProcess(
                URL(fileURLWithPath: "/usr/sbin/runuser"),
                ["-u", "nobody", "--", "/usr/bin/env", "-C", directory.url.path, executable.path] + arguments)
            : try ChildProcess(executable, arguments)
        let output = child.readOutput()
        let status = child.wait()
        guard status == 0 else {
            throw Failure(description: "\(program) \(arguments.joined(separator: " ")) failed (\(status)): \(output)")
        }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Debian puts the server's programs in /usr/lib/postgresql/<version>/bin, outside PATH.
    private static func findBinaries() -> URL? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted {
            (Int($0) ?? 0) > (Int($1) ?? 0)
        }
        for version in versions {
            let bin = URL(fileURLWithPath: "\(root)/\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let bin = URL(fileURLWithPath: String(directory))
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        return nil
    }
}
