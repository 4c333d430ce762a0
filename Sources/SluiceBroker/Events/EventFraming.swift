import SluiceWire

/// The parts of one database's `audit.<db>` and `inval.<db>` events that never change while a
/// writer runs: both topics, and the header around the seq (`{"epoch":"…","seq":N,"stream":"…"}`,
/// canonical). Built once per writer; a command's two events then share one header buffer.
/// The bytes are those of ``Event/frames(topic:stream:seq:epoch:body:)``, which the reader's
/// `SYNC` replies use: a live event and its replay stay byte-identical.
struct EventFraming {
    let database: String
    let epoch: String
    let auditTopic: [UInt8]
    let invalidationTopic: [UInt8]
    /// `{"epoch":"E","seq":`
    private let headerPrefix: [UInt8]
    /// `,"stream":"db"}`
    private let headerSuffix: [UInt8]

    init(database: String, epoch: String) {
        self.database = database
        self.epoch = epoch
        auditTopic = Array(Topic.audit(database).utf8)
        invalidationTopic = Array(Topic.invalidation(database).utf8)
        var prefix = Array(#"{"epoch":"#.utf8)
        JSONValue.appendString(epoch, to: &prefix)
        prefix.append(contentsOf: #","seq":"#.utf8)
        headerPrefix = prefix
        var suffix = Array(#","stream":"#.utf8)
        JSONValue.appendString(database, to: &suffix)
        suffix.append(UInt8(ascii: "}"))
        headerSuffix = suffix
    }

    func header(seq: Int64) -> [UInt8] {
        var header: [UInt8] = []
        header.reserveCapacity(headerPrefix.count + 20 + headerSuffix.count)
        header.append(contentsOf: headerPrefix)
        JSONValue.appendInteger(seq, to: &header)
        header.append(contentsOf: headerSuffix)
        return header
    }

    /// The command's audit and invalidation events, in that order.
    func events(seq: Int64, auditBody: [UInt8], invalidationBody: [UInt8]) -> [EncodedEvent] {
        let header = header(seq: seq)
        return [
            EncodedEvent(stream: database, seq: seq, epoch: epoch, frames: [auditTopic, header, auditBody]),
            EncodedEvent(stream: database, seq: seq, epoch: epoch, frames: [invalidationTopic, header, invalidationBody]),
        ]
    }
}
