import SluiceWire

/// The body of a `SYNC` page's `REPLAY`s, `{"epoch","event","seq","stream","topic"}` in canonical
/// form. All but the event and its seq are the same for the whole page, so they are escaped and
/// written once per page; each `REPLAY` is then the event's bytes between two copies.
struct ReplayEnvelope {
    /// `{"epoch":"…","event":`
    private let prefix: [UInt8]
    /// `,"stream":"…","topic":"…"}`
    private let suffix: [UInt8]

    init(epoch: String, stream: String, topic: String) {
        var prefix = Array(#"{"epoch":"#.utf8)
        JSONValue.appendString(epoch, to: &prefix)
        prefix.append(contentsOf: #","event":"#.utf8)
        var suffix = Array(#","stream":"#.utf8)
        JSONValue.appendString(stream, to: &suffix)
        suffix.append(contentsOf: #","topic":"#.utf8)
        JSONValue.appendString(topic, to: &suffix)
        suffix.append(UInt8(ascii: "}"))
        self.prefix = prefix
        self.suffix = suffix
    }

    /// The `REPLAY` body of the event at `seq` (`event`: its canonical body).
    func body(seq: Int64, event: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.count + event.count + 27 + suffix.count)  // ,"seq": and up to 20 digits
        bytes.append(contentsOf: prefix)
        bytes.append(contentsOf: event)
        bytes.append(contentsOf: #","seq":"#.utf8)
        JSONValue.appendInteger(seq, to: &bytes)
        bytes.append(contentsOf: suffix)
        return bytes
    }
}
