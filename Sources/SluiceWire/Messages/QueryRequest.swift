/// A `QUERY` request: run a named read-only contract with parameters.
public struct QueryRequest: Sendable, Equatable {
    public var requestID: String
    public var contract: ContractID
    /// Most rows wanted (at most the contract's own limit).
    public var limit: Int?
    /// Milliseconds the read may take; past it the answer is `deadline_exceeded`.
    public var deadlineMs: Int?
    /// Read-your-writes: per database, the seq of this client's last acknowledged write. The
    /// answer reflects at least that seq.
    public var after: [String: Int64]
    /// For a query that reads projections: the source seq each must reflect (it waits up to its
    /// deadline, then answers `stale`).
    public var minSourceSeq: Int64?
    /// `traceparent` and `tenant`, when the caller gave them.
    public var context: CallerContext?
    public var parameters: JSONValue

    public init(
        requestID: String, contract: ContractID, limit: Int? = nil, deadlineMs: Int? = nil,
        after: [String: Int64] = [:], minSourceSeq: Int64? = nil, context: CallerContext? = nil,
        parameters: JSONValue
    ) {
        self.context = context
        self.minSourceSeq = minSourceSeq
        self.requestID = requestID
        self.contract = contract
        self.limit = limit
        self.deadlineMs = deadlineMs
        self.after = after
        self.parameters = parameters
    }

    public func message() -> WireMessage {
        var header = JSONObject()
        header["request_id"] = .string(requestID)
        header["contract"] = .string(contract.description)
        if let limit { header["limit"] = .int(Int64(limit)) }
        if let deadlineMs { header["deadline_ms"] = .int(Int64(deadlineMs)) }
        if !after.isEmpty { header["after"] = .object(after.mapValues { .int($0) }) }
        if let minSourceSeq { header["min_source_seq"] = .int(minSourceSeq) }
        context?.write(into: &header)
        return WireMessage(kind: .query, header: header, body: parameters)
    }

    public init(_ message: WireMessage, limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        let requestID = try HeaderField.requestID(message.header, limits: limits)
        guard let text = message.header["contract"]?.stringValue, let contract = ContractID(text) else {
            throw WireError(.invalidMessage, "header.contract must be name@version", details: ["field": "contract"])
        }
        var limit: Int?
        if let value = message.header["limit"], !value.isNull {
            guard let number = value.intValue, number >= 1 else {
                throw WireError(.invalidMessage, "header.limit must be a positive integer", details: ["field": "limit"])
            }
            limit = Int(number)
        }
        var deadline: Int?
        if let value = message.header["deadline_ms"], !value.isNull {
            guard let number = value.intValue, number >= 1, number <= 3_600_000 else {
                throw WireError(
                    .invalidMessage, "header.deadline_ms must be 1 to 3600000", details: ["field": "deadline_ms"])
            }
            deadline = Int(number)
        }
        var after: [String: Int64] = [:]
        if let value = message.header["after"], !value.isNull {
            guard let members = value.objectValue else {
                throw WireError(
                    .invalidMessage, "header.after must map database names to seqs", details: ["field": "after"])
            }
            for (db, seq) in members {
                guard let number = seq.intValue, number >= 0 else {
                    throw WireError(.invalidMessage, "header.after.\(db) must be a seq", details: ["field": "after"])
                }
                after[db] = number
            }
        }
        var minSourceSeq: Int64?
        if let value = message.header["min_source_seq"], !value.isNull {
            guard let number = value.intValue, number >= 0 else {
                throw WireError(
                    .invalidMessage, "header.min_source_seq must be a seq (an integer >= 0)",
                    details: ["field": "min_source_seq"])
            }
            minSourceSeq = number
        }
        let context = try CallerContext.parse(message.header)
        guard case .object = message.body else {
            throw WireError(
                .invalidMessage, "a QUERY body must be a JSON object (the parameters)", details: ["frame": "body"])
        }
        self.init(
            requestID: requestID, contract: contract, limit: limit, deadlineMs: deadline, after: after,
            minSourceSeq: minSourceSeq, context: context, parameters: message.body)
    }
}
