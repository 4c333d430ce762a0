import Foundation
import NIOCore
import PostgresNIO
import SluiceWire

/// A command contract of an `exclusive-postgres` plugin, made ready once per writer: each
/// statement's `:name` parameters turned into `$n` (``SQLParameters/postgres(_:)``), where each
/// value comes from, and which table it changes (for the `inval.<db>` event's `tables`).
///
/// Values are sent typed, as the JSON gave them: a string as `text`, an integer as `bigint`, a
/// fraction as `double precision`, a boolean as `boolean`, an array or object as its canonical
/// JSON `text`. A column of another type takes a cast in the SQL (`:id::uuid`,
/// `:due::timestamptz`, `:tags::jsonb`).
struct PostgresContract {
    struct Step {
        let sql: String
        let sources: [PreparedContract.Source]
    }

    let steps: [Step]
    /// The tables the statements write (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t`), in order.
    let tables: [String]

    init(_ contract: Contract) {
        steps = contract.statements.map { statement in
            let (sql, names) = SQLParameters.postgres(statement.sql)
            return Step(sql: sql, sources: names.map(PreparedContract.Source.init))
        }
        var tables: [String] = []
        for statement in contract.statements {
            if let table = Self.target(of: statement.sql), !tables.contains(table) { tables.append(table) }
        }
        self.tables = tables
    }

    /// Runs the statements in order as `command` and returns `{"changes": n, "rows": [...]}`
    /// like a SQLite contract: `changes` the rows the statements affected, `rows` what
    /// statements that return rows returned.
    func run(_ command: AdmittedCommand, in session: PostgresSession) throws -> JSONValue {
        try Self.result(of: send(command, on: session).map { try $0.wait() })
    }

    /// Sends the statements for `command` without waiting for their answers (the connection
    /// runs them in order); ``result(of:)`` makes the command's result from the answers.
    func send(_ command: AdmittedCommand, on session: PostgresSession) -> [EventLoopFuture<PostgresQueryResult>] {
        let input = command.request.payload.objectMembers ?? JSONObject()
        return steps.map { step in
            var bindings = PostgresBindings(capacity: step.sources.count)
            for source in step.sources {
                switch source {
                case .now: bindings.append(command.timestamp)
                case .generatedID: bindings.append(command.generatedID)
                case .actor: bindings.append(command.actor)
                case .idempotencyKey: bindings.append(command.request.idempotencyKey)
                case .input(let name): Self.append(input[name], to: &bindings)
                }
            }
            return session.send(step.sql, bindings)
        }
    }

    /// `{"changes": n, "rows": [...]}` from the statements' answers, in order.
    static func result(of answers: [PostgresQueryResult]) -> JSONValue {
        var changes: Int64 = 0
        var rows: [JSONValue] = []
        for answer in answers {
            switch answer.metadata.command {
            case "INSERT", "UPDATE", "DELETE", "MERGE": changes += Int64(answer.metadata.rows ?? 0)
            default: break
            }
            for row in answer.rows { rows.append(json(row)) }
        }
        return .object(
            JSONObject(sortedMembers: [
                JSONObject.Member(name: "changes", value: .int(changes)),
                JSONObject.Member(name: "rows", value: .array(rows)),
            ]))
    }

    static func append(_ value: JSONValue?, to bindings: inout PostgresBindings) {
        switch value {
        case nil, .null?: bindings.appendNull()
        case .bool(let flag)?: bindings.append(flag)
        case .int(let number)?: bindings.append(number)
        case .double(let number)?: bindings.append(number)
        case .string(let text)?: bindings.append(text)
        case .decimal(let text)?: bindings.append(text)  // not reached: admission refuses such inputs
        case .array?, .object?: bindings.append(String(decoding: value!.canonicalBytes(), as: UTF8.self))
        }
    }

    /// A result row as a JSON object: integers, fractions, booleans and text as themselves;
    /// `numeric` as a number; `json`/`jsonb` as the JSON they hold; `uuid` and times as text;
    /// `bytea` as base64; NULL as null. Any other type is sent as its text.
    static func json(_ row: PostgresRow) -> JSONValue {
        var members: [String: JSONValue] = [:]
        for cell in row {
            members[cell.columnName] = value(of: cell)
        }
        return .object(members)
    }

    static func value(of cell: PostgresCell) -> JSONValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
            case .float4, .float8: return .double(try cell.decode(Double.self))
            case .bool: return .bool(try cell.decode(Bool.self))
            case .numeric:
                let text = try cell.decode(String.self)
                return (try? JSONValue(parsing: Array(text.utf8))) ?? .string(text)
            case .json, .jsonb:
                let text = try cell.decode(String.self)
                return (try? JSONValue(parsing: Array(text.utf8))) ?? .string(text)
            case .uuid: return .string(try cell.decode(UUID.self).uuidString.lowercased())
            case .timestamptz, .timestamp, .date:
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                return .string(formatter.string(from: try cell.decode(Date.self)))
            case .bytea:
                var buffer = cell.bytes!
                return .string(Data(buffer.readBytes(length: buffer.readableBytes) ?? []).base64EncodedString())
            default:
                return .string(try cell.decode(String.self))
            }
        } catch {
            var buffer = cell.bytes!
            return .string(buffer.readString(length: buffer.readableBytes) ?? "")
        }
    }

    /// The table a write statement names first: `INSERT INTO t`, `UPDATE t`, `DELETE FROM t`
    /// (schema and quotes dropped); nil for anything else.
    static func target(of sql: String) -> String? {
        let words = sql.split(whereSeparator: { $0.isWhitespace || $0 == "(" }).prefix(4).map(String.init)
        guard let first = words.first?.uppercased() else { return nil }
        let name: String?
        switch first {
        case "INSERT", "DELETE":
            name = words.count > 2 && ["INTO", "FROM"].contains(words[1].uppercased()) ? words[2] : nil
        case "UPDATE":
            name = words.count > 1 ? (words[1].uppercased() == "ONLY" && words.count > 2 ? words[2] : words[1]) : nil
        default: name = nil
        }
        guard let name else { return nil }
        let unqualified = name.split(separator: ".").last.map(String.init) ?? name
        return unqualified.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}
