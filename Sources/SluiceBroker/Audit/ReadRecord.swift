import SluiceWire

/// One answered `QUERY`, for the read audit: who read what, when, how it went — never the rows.
/// Made by the I/O thread when it answers (cheap: no formatting, no hashing) and written in
/// batches by the auditor thread, which formats the time and hashes the parameters.
struct ReadRecord: Sendable {
    /// Wall-clock milliseconds when the query was admitted.
    var admittedMs: Int64
    var requestID: String
    var actor: String
    var database: String
    var contract: String
    var parameters: JSONValue
    /// `ok`, or the error code of the answer.
    var status: String
    /// Admission to answer.
    var latencyMicros: Int64
    /// Where the answer came from: `cache`, `executed` (this query's own execution) or
    /// `coalesced` (an identical query's execution, joined while in flight).
    var source: String
    var context: CallerContext?

    /// The stored record, canonical: `{"actor","cache","contract","db","kind":"query","latency_ms",
    /// "params_sha256","request_id","seq","status","tenant"?,"traceparent"?,"ts"}`. Written member
    /// by member (keys in canonical order) rather than through a dictionary: one per query.
    func encoded(seq: Int64, timestamp: String) -> [UInt8] {
        var record = CanonicalObjectWriter(capacity: 320)
        record.string("actor", actor)
        record.string("cache", source)
        record.string("contract", contract)
        record.string("db", database)
        record.string("kind", "query")
        record.double("latency_ms", Double(latencyMicros) / 1000)
        record.string("params_sha256", SHA256.hexDigest(parameters.canonicalBytes()))
        record.string("request_id", requestID)
        record.int("seq", seq)
        record.string("status", status)
        if let tenant = context?.tenant { record.string("tenant", tenant) }
        if let traceparent = context?.traceparent { record.string("traceparent", traceparent) }
        record.string("ts", timestamp)
        return record.finish()
    }
}
