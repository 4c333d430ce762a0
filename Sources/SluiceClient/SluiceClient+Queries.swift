public import SluiceWire
import Synchronization

extension SluiceClient {
    /// Runs a query contract and returns its rows, from a snapshot that includes every write this
    /// client has had acknowledged (read-your-writes).
    ///
    /// - Parameters:
    ///   - limit: most rows wanted (the contract caps it too); `truncated` tells whether there were more.
    ///   - deadlineMs: the broker stops the read and answers `deadline_exceeded` after this long.
    ///   - minSourceSeq: for a query reading projections, the source seq they must reflect; the
    ///     broker waits up to the deadline, then answers `stale`. Writes this client had
    ///     acknowledged on a projection's source are waited for without it.
    public func query(
        _ contract: String, _ parameters: JSONValue = [:], limit: Int? = nil, deadlineMs: Int? = nil,
        minSourceSeq: Int64? = nil, context: CallerContext? = nil
    )
        async throws
        -> QueryResult
    {
        guard let id = ContractID(contract) else {
            throw WireError(.invalidMessage, "'\(contract)' is not of the form name@version")
        }
        let request = QueryRequest(
            requestID: makeRequestID(), contract: id, limit: limit, deadlineMs: deadlineMs,
            after: acknowledgedSeqs.withLock { $0 }, minSourceSeq: minSourceSeq, context: context,
            parameters: parameters
        )
        let reply = try await self.request(request.message())
        guard reply.kind == .result, let result = QueryResult(json: reply.body) else {
            throw SluiceClientError(code: .protocolViolation, message: "expected RESULT, got \(reply.kind)")
        }
        return result
    }
}
