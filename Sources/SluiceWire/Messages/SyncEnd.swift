/// The body of a `SYNC_END`: where the page stopped and where the stream is now.
public struct SyncEnd: Sendable, Equatable {
    public var topic: String
    public var stream: String
    public var epoch: String
    /// The highest seq sent in this page (`from_seq - 1` when the page was empty).
    public var lastSeq: Int64
    /// The stream's latest seq when the page was read.
    public var headSeq: Int64

    public init(topic: String, stream: String, epoch: String, lastSeq: Int64, headSeq: Int64) {
        self.topic = topic
        self.stream = stream
        self.epoch = epoch
        self.lastSeq = lastSeq
        self.headSeq = headSeq
    }

    /// True when the page reached the head: the subscriber is caught up.
    public var complete: Bool { lastSeq >= headSeq }

    public var json: JSONValue {
        [
            "topic": .string(topic), "stream": .string(stream), "epoch": .string(epoch), "last_seq": .int(lastSeq),
            "head_seq": .int(headSeq), "complete": .bool(complete),
        ]
    }

    public init?(json: JSONValue) {
        guard let topic = json["topic"]?.stringValue, let stream = json["stream"]?.stringValue,
            let epoch = json["epoch"]?.stringValue, let lastSeq = json["last_seq"]?.intValue,
            let headSeq = json["head_seq"]?.intValue
        else { return nil }
        self.init(topic: topic, stream: stream, epoch: epoch, lastSeq: lastSeq, headSeq: headSeq)
    }
}
