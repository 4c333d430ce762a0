/// One message on the PUB channel: `[topic, header, body]`.
public struct Event: Sendable, Equatable {
    public var topic: String
    /// The ordered stream this event belongs to (a database name, or `rejected`).
    public var stream: String
    /// Position in `stream`: gap-free and increasing within an epoch.
    public var seq: Int64
    /// Changes when the stream's history is replaced (restore, rebuild); seqs restart meaning.
    public var epoch: String
    public var body: JSONValue

    public init(topic: String, stream: String, seq: Int64, epoch: String, body: JSONValue) {
        self.topic = topic
        self.stream = stream
        self.seq = seq
        self.epoch = epoch
        self.body = body
    }

    public func frames() -> [[UInt8]] {
        Event.frames(topic: topic, stream: stream, seq: seq, epoch: epoch, body: body.canonicalBytes())
    }

    /// The three frames of an event whose body is already canonical JSON.
    public static func frames(topic: String, stream: String, seq: Int64, epoch: String, body: [UInt8]) -> [[UInt8]] {
        var header = CanonicalObjectWriter(capacity: 96)
        header.string("epoch", epoch)
        header.int("seq", seq)
        header.string("stream", stream)
        return [Array(topic.utf8), header.finish(), body]
    }

    public init(frames: [[UInt8]]) throws(WireError) {
        guard frames.count == 3 else {
            throw WireError(.invalidMessage, "an event has 3 frames (topic, header, body), got \(frames.count)")
        }
        do {
            let header = try JSONValue(parsing: frames[1])
            guard let stream = header["stream"]?.stringValue, let seq = header["seq"]?.intValue,
                let epoch = header["epoch"]?.stringValue
            else { throw WireError(.invalidMessage, "event header lacks stream, seq or epoch") }
            self.init(
                topic: String(decoding: frames[0], as: UTF8.self), stream: stream, seq: seq, epoch: epoch,
                body: try JSONValue(parsing: frames[2])
            )
        } catch let error as JSONParseError {
            throw WireError(.invalidMessage, "event: \(error)")
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError(.invalidMessage, "event: \(error)")
        }
    }
}
