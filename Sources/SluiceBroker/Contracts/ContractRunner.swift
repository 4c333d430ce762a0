import Foundation
import GRDB
import SluiceWire

/// Runs a command contract's statements for one admitted command, on the writer's connection.
enum ContractRunner {
    /// Runs a `"handler": "swift"` contract's handler for one admitted command, on the writer's
    /// connection (statement contracts run as a ``PreparedContract``).
    static func run(_ command: AdmittedCommand, handler: CommandHandler, in db: Database) throws -> JSONValue {
        try handler(
            CommandHandlerContext(
                input: command.request.payload, actor: command.actor,
                idempotencyKey: command.request.idempotencyKey, timestamp: command.timestamp,
                generatedID: command.generatedID, database: HandlerDatabase(db: db)))
    }

    /// How a JSON input value binds: scalars as themselves, booleans as 0/1, arrays and objects as
    /// their canonical JSON text (usable with SQLite's JSON functions).
    static func databaseValue(_ value: JSONValue?) -> (any DatabaseValueConvertible)? {
        switch value {
        case nil, .null?: nil
        case .bool(let flag)?: flag ? 1 : 0
        case .int(let number)?: number
        case .double(let number)?: number
        case .string(let text)?: text
        case .decimal(let text)?: text  // not reached: admission refuses such inputs (`outOfRange`)
        case .array?, .object?: value!.canonicalString
        }
    }

    /// The first top-level input member holding a number SQLite cannot store (a `.decimal`:
    /// beyond 64-bit integers, or overflowing or underflowing a double), as a violation.
    static func outOfRange(_ input: JSONValue) -> InputSchema.Violation? {
        guard let members = input.objectMembers else { return nil }
        for member in members.members {
            guard case .decimal(let text) = member.value else { continue }
            return InputSchema.Violation(
                pointer: "/" + InputSchema.escape(member.name), rule: "range",
                message: "\(text) is outside what SQLite stores (a 64-bit integer or a finite double)")
        }
        return nil
    }

    /// The wire error for a SQLite failure while running a contract.
    static func wireError(for error: DatabaseError) -> WireError {
        switch error.resultCode.primaryResultCode {
        case .SQLITE_CONSTRAINT:
            return WireError(
                .constraintViolation, error.message ?? "constraint failed",
                details: ["sqlite_code": .int(Int64(error.extendedResultCode.rawValue))]
            )
        case .SQLITE_FULL:
            return WireError(
                .storageLimit, "the database is full",
                details: ["sqlite_code": .int(Int64(error.extendedResultCode.rawValue))])
        default:
            return WireError(
                .internal, "the command failed in SQLite: \(error.message ?? "\(error.resultCode)")", retryable: false)
        }
    }
}
