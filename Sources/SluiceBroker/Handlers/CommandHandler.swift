public import GRDB
public import SluiceWire

/// Business rules in Swift (the brokered-data-service document: "business rules and validations
/// execute centrally"): a host that embeds the broker registers a handler for a command contract
/// whose document says `"handler": "swift"` (`BrokerConfiguration.commandHandlers`). It runs on
/// the database's writer thread, inside the batch's transaction and a savepoint of its own, after
/// the input passed the contract's schema and the caller's capability was checked; its writes,
/// the idempotency ledger and the command log commit together, and its refusal (a
/// ``RuleViolation``) is stored like a constraint violation, so a retry with the same key gets the
/// same answer.
///
/// A handler must be deterministic given its input and the database: `sluice replay` (through
/// ``LogReplayer`` with the same handlers) runs it again on the logged input, with the logged
/// timestamp and generated id (use ``CommandHandlerContext/timestamp`` and
/// ``CommandHandlerContext/generatedID``, never the wall clock or a random source).
public typealias CommandHandler = @Sendable (CommandHandlerContext) throws -> JSONValue

/// What a ``CommandHandler`` gets: the validated input, who sent it, the values fixed when the
/// command was admitted, and the database (valid during the call only).
public struct CommandHandlerContext {
    public let input: JSONValue
    public let actor: String
    public let idempotencyKey: String
    /// The admission time (`:_now` in SQL contracts), as stored in the log.
    public let timestamp: String
    /// A UUID fixed at admission (`:_id`), as stored in the log.
    public let generatedID: String
    public let database: HandlerDatabase
}

/// A handler's refusal: `rule` names the broken rule; answered `rule_violation` with
/// `details.rule` (and `details`), stored in the ledger, nothing of the command written.
public struct RuleViolation: Error, Sendable {
    public var rule: String
    public var message: String
    public var details: [String: JSONValue]

    public init(rule: String, _ message: String, details: [String: JSONValue] = [:]) {
        self.rule = rule
        self.message = message
        self.details = details
    }
}

/// The handler's view of its database: SQL with positional `?` arguments, on the writer's
/// connection inside the command's savepoint. Held to a contract set's rules: no transaction
/// control, `ATTACH`, `PRAGMA` or `VACUUM`, and none of the broker's `sluice_*` tables.
public struct HandlerDatabase {
    let db: Database

    /// Why `sql` may not run here (nil when it may).
    static func refusal(_ sql: String) -> String? {
        let first = sql.drop(while: { $0.isWhitespace || $0 == "(" }).prefix(while: \.isLetter).uppercased()
        if ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH", "PRAGMA", "VACUUM"]
            .contains(first)
        {
            return "\(first) is the broker's (a handler runs inside its transaction)"
        }
        if sql.lowercased().contains("sluice_") { return "the sluice_* tables are the broker's" }
        return nil
    }

    private func statement(_ sql: String, _ arguments: [JSONValue]) throws -> Statement {
        if let reason = HandlerDatabase.refusal(sql) { throw HandlerSQLRefused(sql: sql, reason: reason) }
        let statement = try db.cachedStatement(sql: sql)
        try statement.bind(positional: arguments)
        return statement
    }

    /// Runs a statement that returns no rows; returns how many rows it changed.
    @discardableResult
    public func execute(_ sql: String, _ arguments: [JSONValue] = []) throws -> Int {
        let before = db.totalChangesCount
        try statement(sql, arguments).forEachRowDirect(in: db) { _ in }
        return db.totalChangesCount - before
    }

    /// Every row of a query, as objects keyed by column name (text with all its bytes: read
    /// through SQLite's C API, as GRDB's rows stop at a NUL).
    public func query(_ sql: String, _ arguments: [JSONValue] = []) throws -> [[String: JSONValue]] {
        let statement = try statement(sql, arguments)
        let columns = statement.columnNames
        var rows: [[String: JSONValue]] = []
        try statement.forEachRowDirect(in: db) { row in rows.append(Statement.jsonMembers(row, columns: columns)) }
        return rows
    }

    /// The first row of a query, or nil.
    public func queryOne(_ sql: String, _ arguments: [JSONValue] = []) throws -> [String: JSONValue]? {
        try query(sql, arguments).first
    }
}

/// A handler's SQL that the broker does not run (a programming error: the command fails with
/// `internal`, nothing written, and it is logged).
public struct HandlerSQLRefused: Error, CustomStringConvertible {
    public var sql: String
    public var reason: String
    public var description: String { "handler SQL refused (\(reason)): \(sql)" }
}
