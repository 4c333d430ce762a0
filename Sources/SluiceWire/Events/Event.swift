import Synchronization

/// One message on the PUB channel: `[topic, header, body]`.
///
/// An event read from the wire (a live event, a `REPLAY`) keeps its body as the JSON text it
/// came in, checked, and builds the ``body`` value the first time it is asked for: a subscriber
/// catching up on a stream it only counts, stores or forwards never pays for building thousands
/// of bodies (`docs/benchmarks.md`, twelfth round).
public struct Event: Sendable, Equatable {
    public var topic: String
    /// The ordered stream this event belongs to (a database name, or `rejected`).
    public var stream: String
    /// Position in `stream`: gap-free and increasing within an epoch.
    public var seq: Int64
    /// Changes when the stream's history is replaced (restore, rebuild); seqs restart meaning.
    public var epoch: String
    private var content: Content

    public var body: JSONValue {
        get { content.value }
        set { content = Content(value: newValue) }
    }

    /// The body's canonical JSON bytes: as received when they already were, without building
    /// the value.
    public var bodyBytes: [UInt8] {
        if let text = content.text { return text.canonicalBytes() }
        return content.value.canonicalBytes()
    }

    public init(topic: String, stream: String, seq: Int64, epoch: String, body: JSONValue) {
        self.init(topic: topic, stream: stream, seq: seq, epoch: epoch, content: Content(value: body))
    }

    /// An event whose body is checked JSON text, built when first asked for.
    public init(topic: String, stream: String, seq: Int64, epoch: String, body: JSONText) {
        self.init(topic: topic, stream: stream, seq: seq, epoch: epoch, content: Content(text: body))
    }

    private init(topic: String, stream: String, seq: Int64, epoch: String, content: Content) {
        self.topic = topic
        self.stream = stream
        self.seq = seq
        self.epoch = epoch
        self.content = content
    }

    public static func == (lhs: Event, rhs: Event) -> Bool {
        guard lhs.topic == rhs.topic, lhs.stream == rhs.stream, lhs.seq == rhs.seq, lhs.epoch == rhs.epoch else {
            return false
        }
        // The same text is the same value; otherwise compare values.
        if let left = lhs.content.text, let right = rhs.content.text, left.bytes == right.bytes { return true }
        return lhs.body == rhs.body
    }

    /// A body given as a value, or as checked text whose value is built once, on first use (an
    /// event may be shared between tasks: the build is behind a lock).
    private final class Content: Sendable {
        let text: JSONText?
        private let built: Mutex<JSONValue?>

        init(value: JSONValue) {
            text = nil
            built = Mutex(value)
        }

        init(text: JSONText) {
            self.text = text
            built = Mutex(nil)
        }

        var value: JSONValue {
            built.withLock { built in
                if let built { return built }
                let value = text?.value() ?? .null  // `built` is nil only with a text
                built = value
                return value
            }
        }
    }

    public func frames() -> [[UInt8]] {
        Event.frames(topic: topic, stream: stream, seq: seq, epoch: epoch, body: bodyBytes)
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
            let topic = String(decoding: frames[0], as: UTF8.self)
            if let text = try JSONText(checking: frames[2]) {
                self.init(topic: topic, stream: stream, seq: seq, epoch: epoch, body: text)
            } else {
                self.init(topic: topic, stream: stream, seq: seq, epoch: epoch, body: try JSONValue(parsing: frames[2]))
            }
        } catch let error as JSONParseError {
            throw WireError(.invalidMessage, "event: \(error)")
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError(.invalidMessage, "event: \(error)")
        }
    }
}
