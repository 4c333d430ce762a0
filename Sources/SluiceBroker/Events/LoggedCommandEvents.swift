import CSQLite
import GRDB
import SluiceWire

/// What the `audit.<db>` and `inval.<db>` events of one logged command say.
///
/// Built by the writer from the command it just ran, and by the readers from the command's log
/// row, with the same code: a live event and its replay through `SYNC` are byte-identical. The
/// text fields are `Text` — Swift strings for the writer and the PostgreSQL reader, the log row's
/// columns where SQLite holds them for the store reader (``ColumnText``) — and `Bytes` the
/// `changes` column's canonical JSON either way.
struct LoggedCommandEvents<Text: EventText, Bytes: EventText> {
    var database: String
    var epoch: String
    var seq: Int64
    var timestamp: Text
    var requestID: Text
    var actor: Text
    var contract: Text
    var idempotencyKey: Text
    var status: Text
    var errorCode: String?
    /// The log row's `changes` column: `{"keys":[...],"tables":{...}}`, canonical.
    var changesBytes: Bytes
    var keys: JSONValue
    var tablesBytes: ArraySlice<UInt8>
    var latencyMicros: Int64
    var level: AuditPolicy.Level
    /// The input, redacted, at levels `request` and `requestResponse`.
    var request: JSONValue?
    /// The stored result (or error), redacted, at level `requestResponse`.
    var response: JSONValue?
    /// The caller's `traceparent` and `tenant`.
    var context: CallerContext?

    /// Applies the contract's audit policy to the command's input and result.
    mutating func apply(
        _ policy: AuditPolicy, payload: @autoclosure () -> JSONValue, result: @autoclosure () -> JSONValue, key: [UInt8]
    ) {
        level = policy.level
        if policy.level == .request || policy.level == .requestResponse {
            request = policy.redacted(payload(), key: key)
        }
        if policy.level == .requestResponse { response = policy.redacted(result(), key: key) }
    }

    /// The fields a log row gives (`changes`, `payload` and `result` as stored); only what the
    /// wanted body needs is parsed: the changes for the invalidation event, the result for a
    /// failure's code or a `requestResponse` audit, the payload for a `request` audit.
    init(
        database: String, epoch: String, seq: Int64, timestamp: Text, requestID: Text, actor: Text, contract: Text,
        idempotencyKey: Text, status: Text, changes: Bytes, latencyMicros: Int64, context: CallerContext?,
        policy: AuditPolicy, key: [UInt8], invalidation: Bool, payload: () -> [UInt8], result: () -> [UInt8]
    ) throws {
        self.database = database
        self.epoch = epoch
        self.seq = seq
        self.timestamp = timestamp
        self.requestID = requestID
        self.actor = actor
        self.contract = contract
        self.idempotencyKey = idempotencyKey
        self.status = status
        self.latencyMicros = latencyMicros
        changesBytes = changes
        if invalidation {
            let changes = try changes.withUTF8Bytes { bytes throws(JSONParseError) in try JSONValue(parsing: bytes) }
            keys = changes["keys"] ?? .array([])
            tablesBytes = ArraySlice((changes["tables"] ?? .object([:])).canonicalBytes())
        } else {
            keys = .array([])
            tablesBytes = []
        }
        self.context = context
        level = .metadata
        guard !invalidation else { return }
        let failed = status.isSame(as: "failed")
        let result = failed || policy.level == .requestResponse ? (try? JSONValue(parsing: result())) ?? .null : .null
        if failed { errorCode = result["code"]?.stringValue }
        apply(policy, payload: (try? JSONValue(parsing: payload())) ?? .null, result: result, key: key)
    }

    var auditBody: [UInt8] { auditBody(after: [], reserving: 0) }

    var invalidationBody: [UInt8] { invalidationBody(after: [], reserving: 0) }

    /// The body of the event on `audit.<db>` (`invalidation` false) or `inval.<db>`, written after
    /// `start` in one buffer with room for `reserving` more bytes after it (a `REPLAY`'s envelope).
    func body(invalidation: Bool, after start: [UInt8], reserving extra: Int) -> [UInt8] {
        invalidation ? invalidationBody(after: start, reserving: extra) : auditBody(after: start, reserving: extra)
    }

    private func auditBody(after start: [UInt8], reserving extra: Int) -> [UInt8] {
        var audit = CanonicalObjectWriter(after: start, capacity: start.count + 384 + extra)
        guard level != .none else {
            audit.string("db", database)
            audit.string("level", level.rawValue)
            audit.int("seq", seq)
            audit.string("status", status)
            audit.string("ts", timestamp)
            return audit.finish()
        }
        audit.string("actor", actor)
        audit.raw("affected", changesBytes)
        if let errorCode { audit.string("code", errorCode) }
        audit.string("contract", contract)
        audit.string("db", database)
        audit.string("idempotency_key", idempotencyKey)
        audit.double("latency_ms", Double(latencyMicros) / 1000)
        audit.string("level", level.rawValue)
        if let request { audit.value("request", request) }
        audit.string("request_id", requestID)
        if let response { audit.value("response", response) }
        audit.int("seq", seq)
        audit.string("status", status)
        if let tenant = context?.tenant { audit.string("tenant", tenant) }
        if let traceparent = context?.traceparent { audit.string("traceparent", traceparent) }
        audit.string("ts", timestamp)
        return audit.finish()
    }

    private func invalidationBody(after start: [UInt8], reserving extra: Int) -> [UInt8] {
        var invalidation = CanonicalObjectWriter(after: start, capacity: start.count + 160 + extra)
        invalidation.string("contract", contract)
        invalidation.string("db", database)
        invalidation.value("keys", keys)
        invalidation.int("seq", seq)
        invalidation.raw("tables", tablesBytes)
        return invalidation.finish()
    }

    /// Both events, framed with the writer's precomputed topics and header.
    func encoded(_ framing: EventFraming) -> [EncodedEvent] {
        framing.events(seq: seq, auditBody: auditBody, invalidationBody: invalidationBody)
    }
}

/// A command's events as the writer builds them (and the PostgreSQL reader, from its rows).
typealias CommandEvents = LoggedCommandEvents<String, [UInt8]>
/// A command's events as the store reader builds them, from the log row SQLite is on.
typealias LogRowEvents = LoggedCommandEvents<ColumnText, ColumnText>

extension LoggedCommandEvents where Text == String, Bytes == [UInt8] {
    /// The events of the command the writer just ran.
    init(
        database: String, epoch: String, seq: Int64, command: AdmittedCommand, status: String, errorCode: String?,
        changes: ChangeSummary, changesBytes: [UInt8], latencyMicros: Int64, result: JSONValue, policy: AuditPolicy,
        key: [UInt8]
    ) {
        self.database = database
        self.epoch = epoch
        self.seq = seq
        timestamp = command.timestamp
        requestID = command.request.requestID
        actor = command.actor
        contract = command.contract.id.description
        idempotencyKey = command.request.idempotencyKey
        self.status = status
        self.errorCode = errorCode
        self.changesBytes = changesBytes
        keys = .array(changes.keys.map(JSONValue.string))
        tablesBytes = changes.tablesBytes
        self.latencyMicros = latencyMicros
        context = command.request.context
        level = .metadata
        apply(policy, payload: command.request.payload, result: result, key: key)
    }

    /// The events of a log row read whole (`policy`: its contract's audit policy).
    init(
        logRow row: CommandLog.Row, database: String, epoch: String, policy: AuditPolicy, key: [UInt8],
        invalidation: Bool
    ) throws {
        try self.init(
            database: database, epoch: epoch, seq: row.seq, timestamp: row.timestamp, requestID: row.requestID,
            actor: row.actor, contract: row.contract, idempotencyKey: row.idempotencyKey, status: row.status,
            changes: row.changes, latencyMicros: row.latencyMicros, context: row.callerContext, policy: policy,
            key: key, invalidation: invalidation, payload: { row.payload }, result: { row.result })
    }
}

extension LoggedCommandEvents where Text == ColumnText, Bytes == ColumnText {
    /// The events of the log row `statement` is on (a statement selecting
    /// ``CommandLog/Row/columns(hasContext:)``), its text read where SQLite holds it: use them
    /// before the statement steps again.
    init(
        columnsOf statement: OpaquePointer, database: String, epoch: String, policy: AuditPolicy, key: [UInt8],
        invalidation: Bool
    ) throws {
        let context =
            sqlite3_column_type(statement, 12) == SQLITE_NULL
            ? nil : CommandLog.Row.callerContext(Statement.bytes(statement, 12))
        try self.init(
            database: database, epoch: epoch, seq: sqlite3_column_int64(statement, 0),
            timestamp: ColumnText(statement, 1), requestID: ColumnText(statement, 5), actor: ColumnText(statement, 2),
            contract: ColumnText(statement, 3), idempotencyKey: ColumnText(statement, 4),
            status: ColumnText(statement, 8), changes: ColumnText(statement, 10),
            latencyMicros: sqlite3_column_int64(statement, 11), context: context, policy: policy, key: key,
            invalidation: invalidation, payload: { Statement.bytes(statement, 7) },
            result: { Statement.bytes(statement, 9) })
    }

    /// Steps `rows` (a statement selecting ``CommandLog/Row/columns(hasContext:)``) to its end —
    /// or until the bodies reach `maxBytes` (one at least) — and returns each row's event body on
    /// `audit.<db>` or, with `invalidation`, `inval.<db>` — as published live: each contract's
    /// (and its plugin's) audit policy applied.
    static func bodies(
        of rows: Statement, in db: Database, database: DatabaseFile, registry: ContractRegistry, key: [UInt8],
        invalidation: Bool, maxBytes: Int = .max
    ) throws -> [(seq: Int64, body: [UInt8])] {
        var bodies: [(seq: Int64, body: [UInt8])] = []
        var bytes = 0
        try forEach(of: rows, in: db, database: database, registry: registry, key: key, invalidation: invalidation) {
            let body = $0.body(invalidation: invalidation, after: [], reserving: 0)
            bodies.append(($0.seq, body))
            bytes += body.count
            return bytes < maxBytes
        }
        return bodies
    }

    /// Like ``bodies(of:in:database:registry:key:invalidation:maxBytes:)``, each event written
    /// inside its `REPLAY` body (``ReplayEnvelope``); `maxBytes` counts the events' bytes.
    static func replayBodies(
        of rows: Statement, in db: Database, database: DatabaseFile, registry: ContractRegistry, key: [UInt8],
        invalidation: Bool, envelope: ReplayEnvelope, maxBytes: Int = .max
    ) throws -> [(seq: Int64, body: [UInt8])] {
        var bodies: [(seq: Int64, body: [UInt8])] = []
        var bytes = 0
        let after = ReplayEnvelope.seqBytes + envelope.suffixCount
        try forEach(of: rows, in: db, database: database, registry: registry, key: key, invalidation: invalidation) {
            logged in
            let (body, eventBytes) = envelope.body(seq: logged.seq) { start in
                logged.body(invalidation: invalidation, after: start, reserving: after)
            }
            bodies.append((logged.seq, body))
            bytes += eventBytes
            return bytes < maxBytes
        }
        return bodies
    }

    /// Steps `rows` while `body` returns true, with each row's events.
    private static func forEach(
        of rows: Statement, in db: Database, database: DatabaseFile, registry: ContractRegistry, key: [UInt8],
        invalidation: Bool, _ body: (LogRowEvents) throws -> Bool
    ) throws {
        // Neighbouring rows are mostly the same contract from the same actor: its policy is
        // looked up again only when either changes.
        var last: (contract: String, actor: String, policy: AuditPolicy)?
        try rows.readRowsDirect(in: db) { statement in
            let contract = ColumnText(statement, 3)
            let actor = ColumnText(statement, 2)
            let policy: AuditPolicy
            if let last, contract.isSame(as: last.contract), actor.isSame(as: last.actor) {
                policy = last.policy
            } else {
                let (contract, actor) = (contract.string, actor.string)
                policy = registry.auditPolicy(for: ContractID(contract).flatMap { registry[$0] }, actor: actor)
                last = (contract, actor, policy)
            }
            return try body(
                LogRowEvents(
                    columnsOf: statement, database: database.name, epoch: database.epoch, policy: policy, key: key,
                    invalidation: invalidation))
        }
    }
}
