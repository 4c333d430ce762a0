import CSQLite
import GRDB
import SluiceWire

/// Where the writer's text values live while their statement runs, so SQLite reads them in
/// place (`SQLITE_STATIC`). Bound as `SQLITE_TRANSIENT`, every text value cost SQLite a fresh
/// allocation and the release of the previous one (`vdbeUnbind` frees a parameter's buffer
/// before each bind): about fifteen of each per command between the ledger lookup, the log and
/// the contract's statement.
///
/// One statement at a time, on the writer's thread: ``begin()`` starts a statement's values,
/// each is copied in and bound, the statement runs and is reset. Bytes never move while bound
/// (a value that does not fit starts a chunk of its own); ``begin()`` overwrites the first chunk
/// and frees any others, so the arena stays at one chunk between large values. A statement
/// bound earlier then points at bytes that change: every one of them rebinds all its parameters
/// before it runs again, and SQLite reads a parameter only while its statement runs.
final class BindingArena {
    /// The first chunk's size, kept for the writer's life.
    static let chunkBytes = 64 << 10

    private var chunks: [UnsafeMutableRawBufferPointer]
    /// Bytes used in the last chunk.
    private var used = 0

    init() {
        chunks = [.allocate(byteCount: BindingArena.chunkBytes, alignment: 1)]
    }

    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    /// Starts the values of the next statement.
    func begin() {
        if chunks.count > 1 {
            for chunk in chunks.dropFirst() { chunk.deallocate() }
            chunks.removeLast(chunks.count - 1)
        }
        used = 0
    }

    /// Copies `bytes` in and binds them as text to parameter `index` of `statement`.
    func bindText(_ bytes: UnsafeRawBufferPointer, to statement: Statement, at index: Int32) {
        var chunk = chunks[chunks.count - 1]
        if used + bytes.count > chunk.count {
            chunk = .allocate(byteCount: max(BindingArena.chunkBytes, bytes.count), alignment: 1)
            chunks.append(chunk)
            used = 0
        }
        // Never a null pointer, even for an empty value: SQLite binds a null pointer as NULL.
        let start = chunk.baseAddress! + used
        if let source = bytes.baseAddress, bytes.count > 0 { start.copyMemory(from: source, byteCount: bytes.count) }
        used += bytes.count
        // A nil destructor is SQLITE_STATIC: SQLite neither copies nor frees the bytes.
        _ = sqlite3_bind_text(
            statement.sqliteStatement, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
    }
}

extension Statement {
    /// Binds `text` through `arena` (see ``BindingArena``).
    func bind(_ text: String, at index: Int32, in arena: BindingArena) {
        var text = text
        text.withUTF8 { arena.bindText(UnsafeRawBufferPointer($0), to: self, at: index) }
    }

    /// Binds `bytes` as text through `arena`.
    func bind(_ bytes: [UInt8], asTextAt index: Int32, in arena: BindingArena) {
        bytes.withUnsafeBytes { arena.bindText($0, to: self, at: index) }
    }

    /// ``bind(_:at:)`` for an input value, its text through `arena`.
    func bind(_ value: JSONValue?, at index: Int32, in arena: BindingArena) {
        switch value {
        case .string(let text)?: bind(text, at: index, in: arena)
        case .decimal(let text)?: bind(text, at: index, in: arena)  // not reached: admission refuses such inputs
        case .array?, .object?: bind(value!.canonicalBytes(), asTextAt: index, in: arena)
        default: bind(value, at: index)
        }
    }
}
