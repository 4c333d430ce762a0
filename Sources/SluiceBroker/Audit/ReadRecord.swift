import SluiceWire

/// One answered read — a `QUERY`, `STATUS` or `SYNC` — for the read audit: who read what, when,
/// how it went, never the rows or events. Made by the I/O thread when it answers (cheap: no
/// formatting, no hashing) and written in batches by the auditor thread, which formats the time
/// and hashes the parameters.
struct ReadRecord: Sendable {
    /// `query`, `status` or `sync`.
    var kind: String
    /// Wall-clock milliseconds when the request was admitted.
    var admittedMs: Int64
    var requestID: String
    var actor: String
    var database: String?
    /// The query contract (`name@version`); nil for other kinds.
    var contract: String?
    /// The `SYNC` topic; nil for other kinds.
    var topic: String?
    /// What identifies the read besides its kind: a query's parameters, a `STATUS` or `SYNC` body.
    var parameters: JSONValue
    /// `ok`, or the error code of the answer.
    var status: String
    /// Admission to answer.
    var latencyMicros: Int64
    /// Queries: where the answer came from — `cache`, `executed` (this query's own execution),
    /// `coalesced` (an identical query's, joined in flight), `parked`, `refused`.
    var source: String?
    var context: CallerContext?

    /// The stored record, canonical: `{"actor","cache"?,"contract"?,"db"?,"kind","latency_ms",
    /// "params_sha256","request_id","seq","status","tenant"?,"topic"?,"traceparent"?,"ts"}`.
    /// Written member by member (keys in canonical order) rather than through a dictionary.
    func encoded(seq: Int64, timestamp: String) -> [UInt8] {
        var record = CanonicalObjectWriter(capacity: 320)
        record.string("actor", actor)
        if let source { record.string("cache", source) }
        if let contract { record.string("contract", contract) }
        if let database { record.string("db", database) }
        record.string("kind", kind)
        record.double("latency_ms", Double(latencyMicros) / 1000)
        record.string("params_sha256", SHA256.hexDigest(parameters.canonicalBytes()))
        record.string("request_id", requestID)
        record.int("seq", seq)
        record.string("status", status)
        if let tenant = context?.tenant { record.string("tenant", tenant) }
        if let topic { record.string("topic", topic) }
        if let traceparent = context?.traceparent { record.string("traceparent", traceparent) }
        record.string("ts", timestamp)
        return record.finish()
    }
}
