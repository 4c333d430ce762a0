import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// One connection to PostgreSQL, used from one broker thread that waits on each reply: the
/// writer of an `exclusive-postgres` database works like a SQLite writer (one statement after
/// another, inside one transaction per batch), so it has no use for a pool or for async code.
/// The connection's I/O runs on SwiftNIO's shared event loops; the calling thread only waits.
final class PostgresSession {
    private let connection: PostgresConnection
    private let logger: Logger
    private var closed = false

    /// How long a connection attempt may take before the database counts as unreachable.
    static let connectTimeout = TimeAmount.seconds(3)

    /// Connects as `username` and sets what every broker session relies on: commits wait for the
    /// server's WAL flush (`synchronous_commit = on`, whatever the server's default), statements
    /// end after `statementTimeoutMs` (a stalled server must not hold a writer forever), and
    /// unqualified names resolve in `searchPath` only.
    init(
        server: PostgresServer, username: String, password: String?, searchPath: [String], statementTimeoutMs: Int,
        logger: Logger
    ) throws {
        var configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: username, password: password, database: server.database,
            tls: .disable)
        configuration.options.connectTimeout = Self.connectTimeout
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        self.logger = quiet
        connection = try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 1, logger: quiet
        ).wait()
        do {
            let path = searchPath.isEmpty ? "pg_catalog" : searchPath.map(PostgresSession.quoted).joined(separator: ", ")
            try execute("SET search_path TO \(path)")
            try execute("SET synchronous_commit TO on")
            try execute("SET statement_timeout TO \(max(1, statementTimeoutMs))")
        } catch {
            close()
            throw error
        }
    }

    /// Runs one statement with `binds` ($1, $2, … in order) and returns its rows.
    @discardableResult
    func execute(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> PostgresQueryResult {
        try send(sql, binds).wait()
    }

    /// Sends one statement and returns at once: statements sent one after another run in that
    /// order, and waiting for the last answer only (after checking the others) spares the
    /// calling thread a wake-up per statement.
    func send(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) -> EventLoopFuture<PostgresQueryResult> {
        connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    }

    /// Waits for a COMMIT sent with ``send(_:_:)`` and checks that it committed: PostgreSQL
    /// answers COMMIT in a failed transaction with a ROLLBACK, not an error.
    func committed(_ commit: EventLoopFuture<PostgresQueryResult>) throws {
        let answer = try commit.wait()
        guard answer.metadata.command == "COMMIT" else {
            throw NotCommitted(tag: answer.metadata.command)
        }
    }

    struct NotCommitted: Error, CustomStringConvertible {
        var tag: String
        var description: String { "the transaction did not commit (PostgreSQL answered \(tag))" }
    }

    /// Ends a failed transaction; a failure to (the connection is gone) changes nothing: the
    /// server ends the transaction with the session.
    func rollback() { _ = try? execute("ROLLBACK") }

    /// Runs SQL that may hold several statements (a migration file), one after another (the
    /// extended protocol this connection speaks takes one statement at a time).
    func executeScript(_ sql: String) throws {
        for statement in SQLParameters.postgresStatements(sql) { try execute(statement) }
    }

    /// The first column of the first row, as `T`; nil when there is no row or it is NULL.
    func value<T: PostgresDecodable>(_ type: T.Type, _ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws
        -> T?
    {
        guard let row = try execute(sql, binds).first else { return nil }
        let cell = row.makeRandomAccess()[0]
        return cell.bytes == nil ? nil : try cell.decode(T.self)
    }

    /// Whether the connection still looks usable (closing it, or the server's end, makes it not).
    var isOpen: Bool { !closed && !connection.isClosed }

    func close() {
        guard !closed else { return }
        closed = true
        try? connection.close().wait()
    }

    deinit { close() }

    /// `name` as a quoted identifier: `"plugin_tasks"`, inner quotes doubled.
    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// `text` as a string literal, for the few statements that take no parameters (`PASSWORD`).
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
}

extension Error {
    /// The server's SQLSTATE, when PostgreSQL itself refused the statement.
    var postgresSQLState: String? { (self as? PSQLError)?.serverInfo?[.sqlState] }

    /// True when the failure is the connection's (refused, closed, timed out), not a statement's:
    /// the database counts as unavailable, and a retry later may pass.
    var isPostgresConnectionFailure: Bool {
        guard let error = self as? PSQLError else {
            // postgres-nio wraps what the connection meets; NIO's own errors in case one
            // arrives unwrapped. Anything else (a decoding error, the broker's own) is not the
            // connection's.
            return self is IOError || self is ChannelError
        }
        if let state = error.serverInfo?[.sqlState] {
            // 08: connection exception; 57P: operator intervention (shutdown, cancelled); 53: no
            // resources (too many connections, disk full); 40001/40P01 never happen to one writer.
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
        }
        return error.code != .server
    }

    /// The server's message for a refused statement, with its SQLSTATE.
    var postgresMessage: String {
        guard let error = self as? PSQLError else { return "\(self)" }
        guard let info = error.serverInfo else {
            // PSQLError's own description hides everything; its code and cause are safe to say.
            return error.underlying.map { "\(error.code): \($0)" } ?? "\(error.code)"
        }
        let message = info[.message] ?? "error"
        let detail = info[.detail].map { " (\($0))" } ?? ""
        return "\(message)\(detail) [SQLSTATE \(info[.sqlState] ?? "?")]"
    }
}
