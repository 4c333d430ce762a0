import Foundation
import CSQLite
import GRDB
import SluiceWire

/// Binding and stepping the broker's own statements (ledger lookup, log append)
/// straight through SQLite's C API, by position. They run once or twice per command on the
/// writer: this way a command costs no argument array of boxed values and no name lookups.
///
/// The statements still come from GRDB's statement cache (so GRDB finalizes them when it closes
/// the connection) and touch only `sluice_*` tables, which no transaction observer watches.
extension Statement {
    /// SQLite copies the bytes before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ text: String, at index: Int32) {
        var text = text
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(sqliteStatement, index, bytes.baseAddress, Int32(bytes.count), Statement.transient)
        }
    }

    func bind(_ bytes: [UInt8], asTextAt index: Int32) {
        bytes.withUnsafeBufferPointer { buffer in
            _ = buffer.withMemoryRebound(to: CChar.self) { text in
                sqlite3_bind_text(sqliteStatement, index, text.baseAddress, Int32(text.count), Statement.transient)
            }
        }
    }

    func bind(_ value: Int64, at index: Int32) { _ = sqlite3_bind_int64(sqliteStatement, index, value) }

    func bindNull(at index: Int32) { _ = sqlite3_bind_null(sqliteStatement, index) }

    /// How a JSON input value binds: scalars as themselves, booleans as 0/1, arrays and objects as
    /// their canonical JSON text (usable with SQLite's JSON functions), a missing member as NULL.
    func bind(_ value: JSONValue?, at index: Int32) {
        switch value {
        case nil, .null?: bindNull(at: index)
        case .bool(let flag)?: bind(flag ? 1 : 0, at: index)
        case .int(let number)?: bind(number, at: index)
        case .double(let number)?: _ = sqlite3_bind_double(sqliteStatement, index, number)
        case .string(let text)?: bind(text, at: index)
        case .decimal(let text)?: bind(text, at: index)  // not reached: admission refuses such inputs
        case .array?, .object?: bind(value!.canonicalBytes(), asTextAt: index)
        }
    }

    /// Binds `values` to the parameters by position through SQLite's C API: text keeps all its
    /// bytes (GRDB binds a `String` as a C string, cut at a NUL). Throws, binding nothing, when
    /// their number is not the statement's.
    func bind(positional values: [JSONValue?]) throws {
        let expected = Int(sqlite3_bind_parameter_count(sqliteStatement))
        guard values.count == expected else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE,
                message: "wrong number of statement arguments: \(values.count) given, \(expected) expected", sql: sql)
        }
        sqlite3_reset(sqliteStatement)
        for (offset, value) in values.enumerated() { bind(value, at: Int32(offset + 1)) }
    }

    /// Steps a statement that returns no rows to completion, then resets it.
    func runDirect(in db: Database) throws {
        defer { sqlite3_reset(sqliteStatement) }
        let code = sqlite3_step(sqliteStatement)
        guard code == SQLITE_DONE else { throw failure(code, in: db) }
    }

    /// Steps to the first row and reads it with `read` (nil when there is none), then resets.
    func firstRowDirect<T>(in db: Database, _ read: (OpaquePointer) -> T) throws -> T? {
        defer { sqlite3_reset(sqliteStatement) }
        switch sqlite3_step(sqliteStatement) {
        case SQLITE_ROW: return read(sqliteStatement)
        case SQLITE_DONE: return nil
        case let code: throw failure(code, in: db)
        }
    }

    /// Steps to the end, calling `read` with each row, then resets.
    func forEachRowDirect(in db: Database, _ read: (OpaquePointer) throws -> Void) throws {
        try readRowsDirect(in: db) { statement in
            try read(statement)
            return true
        }
    }

    /// Like ``forEachRowDirect(in:_:)``, stopping early once `read` returns false.
    func readRowsDirect(in db: Database, _ read: (OpaquePointer) throws -> Bool) throws {
        defer { sqlite3_reset(sqliteStatement) }
        while true {
            switch sqlite3_step(sqliteStatement) {
            case SQLITE_ROW: if try !read(sqliteStatement) { return }
            case SQLITE_DONE: return
            case let code: throw failure(code, in: db)
            }
        }
    }

    /// Steps once: the statement, positioned on its next row, or nil past the last (no reset:
    /// the caller resets or discards the statement when done).
    func stepDirect(in db: Database) throws -> OpaquePointer? {
        switch sqlite3_step(sqliteStatement) {
        case SQLITE_ROW: return sqliteStatement
        case SQLITE_DONE: return nil
        case let code: throw failure(code, in: db)
        }
    }

    /// Steps this statement (on `source`) to its end and inserts each row through `insert` (on
    /// `target`), column by column with `sqlite3_bind_value`: every value keeps its storage class
    /// and no Swift value is made per row. Returns the number of rows copied.
    func copyRows(from source: Database, into insert: Statement, in target: Database) throws -> Int64 {
        defer { sqlite3_reset(sqliteStatement) }
        let columns = sqlite3_column_count(sqliteStatement)
        var rows: Int64 = 0
        while true {
            switch sqlite3_step(sqliteStatement) {
            case SQLITE_DONE: return rows
            case SQLITE_ROW:
                for column in 0..<columns {
                    _ = sqlite3_bind_value(insert.sqliteStatement, column + 1, sqlite3_column_value(sqliteStatement, column))
                }
                try insert.runDirect(in: target)
                rows += 1
            case let code: throw failure(code, in: source)
            }
        }
    }

    private func failure(_ code: Int32, in db: Database) -> DatabaseError {
        let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }

    /// A text or blob column's bytes (empty for NULL).
    static func bytes(_ statement: OpaquePointer, _ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let base = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A column of the current row as JSON: numbers and text as themselves (text with all its
    /// bytes: GRDB's `DatabaseValue` stops at a NUL), blobs as base64 text, NULL as null.
    static func json(_ statement: OpaquePointer, _ column: Int32) -> JSONValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: .int(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT: .double(sqlite3_column_double(statement, column))
        case SQLITE_TEXT: .string(text(statement, column))
        case SQLITE_BLOB: .string(Data(bytes(statement, column)).base64EncodedString())
        default: .null
        }
    }

    /// The current row's columns in order, each as ``json(_:_:)`` reads it.
    static func jsonValues(_ statement: OpaquePointer) -> [JSONValue] {
        (0..<sqlite3_column_count(statement)).map { json(statement, $0) }
    }

    /// The current row's columns by the names in `columns` (in column order).
    static func jsonMembers(_ statement: OpaquePointer, columns: [String]) -> [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        for (index, column) in columns.enumerated() { members[column] = json(statement, Int32(index)) }
        return members
    }

    /// A text column's value, all of its bytes: a NUL inside the text is kept, not taken for
    /// its end.
    static func text(_ statement: OpaquePointer, _ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }
}
