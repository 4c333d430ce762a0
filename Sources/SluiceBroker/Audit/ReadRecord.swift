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

    /// The stored record: `{"actor","cache","contract","db","kind":"query","latency_ms",
    /// "params_sha256","request_id","seq","status","ts"}` (+ `tenant`, `traceparent`).
    func json(seq: Int64) -> JSONValue {
        var record: [String: JSONValue] = [
            "actor": .string(actor), "cache": .string(source), "contract": .string(contract), "db": .string(database),
            "kind": "query", "latency_ms": .double(Double(latencyMicros) / 1000),
            "params_sha256": .string(SHA256.hexDigest(parameters.canonicalBytes())), "request_id": .string(requestID),
            "seq": .int(seq), "status": .string(status), "ts": .string(Clock.text(milliseconds: admittedMs)),
        ]
        if let tenant = context?.tenant { record["tenant"] = .string(tenant) }
        if let traceparent = context?.traceparent { record["traceparent"] = .string(traceparent) }
        return .object(record)
    }
}
