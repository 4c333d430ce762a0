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

    /// `,"seq":` and the longest seq's digits.
    static let seqBytes = 27
    /// The bytes after the seq.
    var suffixCount: Int { suffix.count }

    /// The `REPLAY` body of the event at `seq` (`event`: its canonical body).
    func body(seq: Int64, event: [UInt8]) -> [UInt8] {
        body(seq: seq) { start in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(start.count + event.count + ReplayEnvelope.seqBytes + suffix.count)
            bytes.append(contentsOf: start)
            bytes.append(contentsOf: event)
            return bytes
        }.body
    }

    /// The `REPLAY` body of the event at `seq`, the event written by `write` in the same buffer:
    /// `write` gets the envelope's start and returns it with the event's canonical body after it.
    /// Also how many bytes the event took (a page's budget counts events, not envelopes).
    ///
    /// One buffer per event: writing the event first and copying it into its envelope was 10% of
    /// the store reader's thread during a catch-up, an allocation and a copy per event.
    func body(seq: Int64, writing write: (_ start: [UInt8]) throws -> [UInt8]) rethrows -> (
        body: [UInt8], eventBytes: Int
    ) {
        var bytes = try write(prefix)
        let eventBytes = bytes.count - prefix.count
        bytes.append(contentsOf: #","seq":"#.utf8)
        JSONValue.appendInteger(seq, to: &bytes)
        bytes.append(contentsOf: suffix)
        return (bytes, eventBytes)
    }
}
