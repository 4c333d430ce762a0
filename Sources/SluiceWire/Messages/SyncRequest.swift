/// A `SYNC` request: "send me the stored events of `topic` from `fromSeq` on", one page at a time.
///
/// Paging is the flow control: the broker sends at most `limit` `REPLAY`s and a `SYNC_END`; the
/// client asks for the next page when it is ready, so neither side ever holds more than a page.
public struct SyncRequest: Sendable, Equatable {
    public static let defaultLimit = 1000
    public static let maximumLimit = 5000

    /// An event topic with a stored history: `audit.<db>`, `inval.<db>` or `audit.rejected`.
    public var topic: String
    /// The first seq wanted (inclusive, ≥ 1). To resume after seq N, ask from N + 1.
    public var fromSeq: Int64
    public var limit: Int

    public init(topic: String, fromSeq: Int64, limit: Int = SyncRequest.defaultLimit) {
        self.topic = topic
        self.fromSeq = fromSeq
        self.limit = limit
    }

    public func message(requestID: String) -> WireMessage {
        WireMessage(
            kind: .sync, header: ["request_id": .string(requestID)],
            body: ["topic": .string(topic), "from_seq": .int(fromSeq), "limit": .int(Int64(limit))]
        )
    }

    public init(_ message: WireMessage, limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        _ = try HeaderField.requestID(message.header, limits: limits)
        guard let topic = message.body["topic"]?.stringValue, !topic.isEmpty, topic.utf8.count <= 128 else {
            throw WireError(
                .invalidMessage, "SYNC body needs topic (e.g. \"inval.tasks\")", details: ["field": "topic"])
        }
        guard let fromSeq = message.body["from_seq"]?.intValue, fromSeq >= 1 else {
            throw WireError(.invalidMessage, "SYNC body needs from_seq, an integer ≥ 1", details: ["field": "from_seq"])
        }
        var limit = SyncRequest.defaultLimit
        if let value = message.body["limit"], !value.isNull {
            guard let requested = value.intValue, requested >= 1, requested <= SyncRequest.maximumLimit else {
                throw WireError(
                    .invalidMessage, "SYNC limit must be an integer from 1 to \(SyncRequest.maximumLimit)",
                    details: ["field": "limit"]
                )
            }
            limit = Int(requested)
        }
        self.init(topic: topic, fromSeq: fromSeq, limit: limit)
    }
}
