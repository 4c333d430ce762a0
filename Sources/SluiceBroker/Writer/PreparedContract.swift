import CSQLite
import Foundation
import GRDB
import SluiceWire

/// A command contract's statements, prepared once on the writer's connection, each parameter's
/// source resolved when prepared: a command binds its values by position, straight from the
/// input's members into SQLite, and steps the statements through SQLite's C API.
///
/// What this spares per command, against binding through GRDB (`StatementArguments`, a statement
/// cache keyed by SQL text, GRDB's per-statement observation set-up): an array of boxed values,
/// a hash of the SQL text, and GRDB's bookkeeping around each step. Changes are seen by the
/// writer's ``ChangeRecorder`` hook, which does not depend on how a statement is stepped.
struct PreparedContract {
    /// Where a parameter's value comes from.
    enum Source {
        case now, generatedID, actor, idempotencyKey
        /// A top-level input member, by exact name (missing binds NULL).
        case input(String)

        init(_ name: String) {
            switch name {
            case "_now": self = .now
            case "_id": self = .generatedID
            case "_actor": self = .actor
            case "_key": self = .idempotencyKey
            default: self = .input(name)
            }
        }
    }

    struct Step {
        let statement: Statement
        /// By SQLite's parameter index, from 1.
        let sources: [Source]
        /// The result columns' names; empty for a statement that returns no rows.
        let columns: [String]
    }

    let steps: [Step]

    /// Prepares `contract`'s statements on `db` (the writer's connection, whose ``ChangeRecorder``
    /// is already installed: SQLite decides how a DELETE runs when it compiles it).
    init(_ contract: Contract, in db: Database) throws {
        steps = try contract.statements.map { specification in
            let statement = try db.makeStatement(sql: specification.sql)
            let handle = statement.sqliteStatement
            let columns = (0..<sqlite3_column_count(handle)).map { String(cString: sqlite3_column_name(handle, $0)) }
            return Step(statement: statement, sources: specification.bindOrder.map(Source.init), columns: columns)
        }
    }

    /// Runs every statement in order for `command` and returns `{"changes": n, "rows": [...]}`,
    /// rows from statements that return rows (`RETURNING`, `SELECT`). Throws SQLite's error as a
    /// `DatabaseError`, like GRDB would.
    func run(_ command: AdmittedCommand, in db: Database, arena: BindingArena) throws -> JSONValue {
        // Members by exact name (a Swift dictionary would merge look-alike names).
        let input = command.request.payload.objectMembers ?? JSONObject()
        // Straight from SQLite: GRDB's `totalChangesCount` first checks which queue it runs on
        // (2% of the writer's time in a replay's profile).
        let connection = db.sqliteConnection
        let before = sqlite3_total_changes64(connection)
        var rows: [JSONValue] = []
        for step in steps {
            let handle = step.statement.sqliteStatement
            arena.begin()
            for (offset, source) in step.sources.enumerated() {
                let index = Int32(offset + 1)
                switch source {
                case .now: step.statement.bind(command.timestamp, at: index, in: arena)
                case .generatedID: step.statement.bind(command.generatedID, at: index, in: arena)
                case .actor: step.statement.bind(command.actor, at: index, in: arena)
                case .idempotencyKey: step.statement.bind(command.request.idempotencyKey, at: index, in: arena)
                case .input(let name): step.statement.bind(input[name], at: index, in: arena)
                }
            }
            if step.columns.isEmpty {
                try step.statement.runDirect(in: db)
            } else {
                try step.statement.forEachRowDirect(in: db) { row in
                    rows.append(.object(JSONObject(Statement.jsonMembers(row, columns: step.columns))))
                }
            }
            sqlite3_clear_bindings(handle)
        }
        return .object(
            JSONObject(sortedMembers: [
                JSONObject.Member(name: "changes", value: .int(sqlite3_total_changes64(connection) - before)),
                JSONObject.Member(name: "rows", value: .array(rows)),
            ]))
    }
}
