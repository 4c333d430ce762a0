/// The body of an `ACK`: the command is durably committed (or was, earlier, under the same key).
public struct Acknowledgement: Sendable, Equatable {
    /// The database the command wrote to.
    public var db: String
    /// The command's position in that database's command log.
    public var seq: Int64
    /// True when this key had already committed and the stored result is returned unchanged.
    public var duplicate: Bool
    /// What the contract returned: `{"changes": n, "rows": [...]}`.
    public var result: JSONValue

    public init(db: String, seq: Int64, duplicate: Bool, result: JSONValue) {
        self.db = db
        self.seq = seq
        self.duplicate = duplicate
        self.result = result
    }

    /// The canonical encoding, written directly.
    public var canonicalBytes: [UInt8] {
        var writer = CanonicalObjectWriter()
        writer.string("db", db)
        writer.bool("duplicate", duplicate)
        writer.value("result", result)
        writer.int("seq", seq)
        return writer.finish()
    }

    /// The same, with `result` already encoded (canonically) as `encodedResult`: the writer has
    /// those bytes for the ledger and the log, and does not encode the result a second time.
    public func canonicalBytes(encodedResult: [UInt8]) -> [UInt8] {
        var writer = CanonicalObjectWriter(capacity: db.utf8.count + encodedResult.count + 48)
        writer.string("db", db)
        writer.bool("duplicate", duplicate)
        writer.raw("result", encodedResult)
        writer.int("seq", seq)
        return writer.finish()
    }

    public var json: JSONValue {
        ["db": .string(db), "seq": .int(seq), "duplicate": .bool(duplicate), "result": result]
    }

    public init?(json: JSONValue) {
        guard let db = json["db"]?.stringValue, let seq = json["seq"]?.intValue,
            let duplicate = json["duplicate"]?.boolValue
        else { return nil }
        self.init(db: db, seq: seq, duplicate: duplicate, result: json["result"] ?? .null)
    }
}
