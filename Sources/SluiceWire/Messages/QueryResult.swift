/// The body of a `RESULT`: column names once, then rows of values, and the snapshot it reflects.
public struct QueryResult: Sendable, Equatable {
    public var db: String
    /// The database's seq as of the read snapshot: every command up to it is visible.
    public var seq: Int64
    public var columns: [String]
    public var rows: [[JSONValue]]
    /// True when rows were cut at the row or byte limit.
    public var truncated: Bool
    /// For a query reading projections: per projection, the source seq its table reflected.
    public var projections: [String: Int64]

    public init(
        db: String, seq: Int64, columns: [String], rows: [[JSONValue]], truncated: Bool,
        projections: [String: Int64] = [:]
    ) {
        self.projections = projections
        self.db = db
        self.seq = seq
        self.columns = columns
        self.rows = rows
        self.truncated = truncated
    }

    public init?(json: JSONValue) {
        guard let db = json["db"]?.stringValue, let seq = json["seq"]?.intValue,
            let columns = json["columns"]?.arrayValue?.compactMap(\.stringValue), let rows = json["rows"]?.arrayValue,
            let truncated = json["truncated"]?.boolValue
        else { return nil }
        var projections: [String: Int64] = [:]
        for (name, value) in json["projections"]?.objectMembers ?? JSONObject() {
            if let seq = value.intValue { projections[name] = seq }
        }
        self.init(
            db: db, seq: seq, columns: columns, rows: rows.map { $0.arrayValue ?? [] }, truncated: truncated,
            projections: projections)
    }

    /// Rows as objects keyed by column name.
    public var objects: [[String: JSONValue]] {
        rows.map { row in Dictionary(zip(columns, row), uniquingKeysWith: { first, _ in first }) }
    }
}
