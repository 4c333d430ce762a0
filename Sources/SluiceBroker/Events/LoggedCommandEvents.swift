import GRDB
import SluiceWire

/// What the `audit.<db>` and `inval.<db>` events of one logged command say.
///
/// Built by the writer from the command it just ran, and by the reader from the command's log
/// row, with the same code: a live event and its replay through `SYNC` are byte-identical.
struct LoggedCommandEvents {
    var database: String
    var epoch: String
    var seq: Int64
    var timestamp: String
    var requestID: String
    var actor: String
    var contract: String
    var idempotencyKey: String
    var status: String
    var errorCode: String?
    /// The log row's `changes` column: `{"keys":[...],"tables":{...}}`, canonical.
    var changesBytes: [UInt8]
    var keys: JSONValue
    var tablesBytes: [UInt8]
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

    /// Reads a log row; `policy` is the contract's audit policy. Only what the wanted body needs is
    /// parsed: the changes for the invalidation event, the result for a failure's code or a
    /// `requestResponse` audit, the payload for a `request` audit.
    init(
        logRow row: CommandLog.Row, database: String, epoch: String, policy: AuditPolicy, key: [UInt8],
        invalidation: Bool
    ) throws {
        self.database = database
        self.epoch = epoch
        seq = row.seq
        timestamp = row.timestamp
        requestID = row.requestID
        actor = row.actor
        contract = row.contract
        idempotencyKey = row.idempotencyKey
        status = row.status
        latencyMicros = row.latencyMicros
        changesBytes = row.changes
        if invalidation {
            let changes = try JSONValue(parsing: changesBytes)
            keys = changes["keys"] ?? .array([])
            tablesBytes = (changes["tables"] ?? .object([:])).canonicalBytes()
        } else {
            keys = .array([])
            tablesBytes = []
        }
        context = row.callerContext
        level = .metadata
        guard !invalidation else { return }
        let needsResult = status == "failed" || policy.level == .requestResponse
        assert(
            !LoggedCommandEvents.needsPayloadOrResult(status: status, policy: policy, invalidation: invalidation)
                || !row.payload.isEmpty, "the row's payload and result were not read")
        let result = needsResult ? (try? JSONValue(parsing: row.result)) ?? .null : .null
        if status == "failed" { errorCode = result["code"]?.stringValue }
        apply(policy, payload: (try? JSONValue(parsing: row.payload)) ?? .null, result: result, key: key)
    }

    /// Whether a log row's body needs its `payload` and `result` columns: an audit of a failed
    /// command (its code) or at a level that shows the input (or result).
    static func needsPayloadOrResult(status: String, policy: AuditPolicy, invalidation: Bool) -> Bool {
        !invalidation && (status == "failed" || policy.level == .request || policy.level == .requestResponse)
    }

    /// Steps `rows` (a statement selecting ``CommandLog/Row/columns(hasContext:)``) to its end —
    /// or until the bodies reach `maxBytes` (one at least) — and returns each row's event body on
    /// `audit.<db>` or, with `invalidation`, `inval.<db>` — as published live: each contract's
    /// (and its plugin's) audit policy applied.
    static func bodies(
        of rows: Statement, in db: Database, database: DatabaseFile, registry: ContractRegistry, key: [UInt8],
        invalidation: Bool, maxBytes: Int = .max
    ) throws -> [(seq: Int64, body: [UInt8])] {
        var events: [(seq: Int64, body: [UInt8])] = []
        var bytes = 0
        // Neighbouring rows are mostly the same contract from the same actor: its policy is
        // looked up again only when either changes.
        var last: (contract: String, actor: String, policy: AuditPolicy)?
        try rows.readRowsDirect(in: db) { statement in
            var row = CommandLog.Row(eventColumnsOf: statement)
            let policy: AuditPolicy
            if let last, last.contract == row.contract, last.actor == row.actor {
                policy = last.policy
            } else {
                policy = registry.auditPolicy(for: ContractID(row.contract).flatMap { registry[$0] }, actor: row.actor)
                last = (row.contract, row.actor, policy)
            }
            if needsPayloadOrResult(status: row.status, policy: policy, invalidation: invalidation) {
                row.readPayloadAndResult(statement)
            }
            let logged = try LoggedCommandEvents(
                logRow: row, database: database.name, epoch: database.epoch, policy: policy, key: key,
                invalidation: invalidation)
            let body = invalidation ? logged.invalidationBody : logged.auditBody
            events.append((logged.seq, body))
            bytes += body.count
            return bytes < maxBytes
        }
        return events
    }

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

    var auditBody: [UInt8] {
        var audit = CanonicalObjectWriter(capacity: 384)
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

    var invalidationBody: [UInt8] {
        var invalidation = CanonicalObjectWriter(capacity: 160)
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
