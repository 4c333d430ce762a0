import CSQLite
import SluiceWire

/// The text an event field is written from: a Swift `String` where the writer builds a command's
/// events from the command it ran (and the PostgreSQL reader from its rows), or a text column of
/// the log row SQLite is on while the store reader steps (``ColumnText``): a `SYNC` page of a
/// thousand events then makes no `String` per field, only the bytes of the bodies
/// (docs/benchmarks.md, "Twelfth round").
protocol EventText {
    /// Calls `body` with the text's UTF-8 bytes (valid UTF-8).
    func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result
}

extension EventText {
    /// Whether the text is `other`, byte for byte.
    func isSame(as other: String) -> Bool {
        withUTF8Bytes { bytes in
            var other = other
            return other.withUTF8 { $0.elementsEqual(bytes) }
        }
    }

    var string: String { withUTF8Bytes { String(decoding: $0, as: UTF8.self) } }
}

extension String: EventText {
    func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        var text = self
        return try text.withUTF8(body)
    }
}

extension Array: EventText where Element == UInt8 {
    func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try withUnsafeBufferPointer(body)
    }
}

/// A text column of the row a statement is on, where SQLite holds it: valid until the statement
/// steps or resets, so it never leaves the row's callback. Text that is not valid UTF-8 (a log
/// changed outside the broker) is read as `Statement.text` reads it, repaired.
struct ColumnText: EventText {
    private let bytes: UnsafeBufferPointer<UInt8>

    init(_ statement: OpaquePointer, _ column: Int32) {
        // The text first, then its length (SQLite's order: asking the length first could convert
        // the value after the pointer was taken).
        let text = sqlite3_column_text(statement, column)
        bytes = UnsafeBufferPointer(start: text, count: text == nil ? 0 : Int(sqlite3_column_bytes(statement, column)))
    }

    func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if bytes.allSatisfy({ $0 < 0x80 }) || UTF8Text.string(bytes) != nil { return try body(bytes) }
        var repaired = String(decoding: bytes, as: UTF8.self)
        return try repaired.withUTF8(body)
    }
}

extension CanonicalObjectWriter {
    mutating func string(_ name: StaticString, _ value: some EventText) {
        value.withUTF8Bytes { string(name, utf8: $0) }
    }

    /// A member whose value is already canonical JSON.
    mutating func raw(_ name: StaticString, _ value: some EventText) {
        value.withUTF8Bytes { raw(name, $0) }
    }
}
