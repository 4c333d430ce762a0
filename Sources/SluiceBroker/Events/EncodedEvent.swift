import SluiceWire

/// An event with its frames already encoded, so it is serialized once whoever publishes it.
struct EncodedEvent: Sendable {
    var stream: String
    var seq: Int64
    var epoch: String
    var frames: [[UInt8]]

    init(_ event: Event) {
        stream = event.stream
        seq = event.seq
        epoch = event.epoch
        frames = event.frames()
    }

    init(stream: String, seq: Int64, epoch: String, frames: [[UInt8]]) {
        self.stream = stream
        self.seq = seq
        self.epoch = epoch
        self.frames = frames
    }

    init(topic: String, stream: String, seq: Int64, epoch: String, body: [UInt8]) {
        self.stream = stream
        self.seq = seq
        self.epoch = epoch
        frames = Event.frames(topic: topic, stream: stream, seq: seq, epoch: epoch, body: body)
    }
}
