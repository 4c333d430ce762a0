import SluiceWire

/// What happened to one admitted command; built by its writer after COMMIT.
struct CommandOutcome: Sendable {
    enum Result: Sendable {
        case committed(Acknowledgement)
        case failed(WireError)
    }

    var token: UInt64
    var result: Result
    /// The reply for the client that sent the command, encoded once on the writer thread.
    var reply: [[UInt8]]
    /// Audit and invalidation events to publish (empty when nothing reached the log, or when no
    /// subscription asks for them: ``EventDemand``).
    var events: [EncodedEvent]
    /// The command's place in its database's stream when it reached the log (nil when it did
    /// not: refused before running), whether or not its events were encoded.
    var position: StreamPosition?
    /// Tables whose rows the command changed, for the query cache.
    var changedTables: [String] = []
    /// True when the command changed rows SQLite could not attribute to a table (WITHOUT ROWID).
    var changedUnnamedRows = false

    /// What the log stored of a committed result (its canonical bytes), on the outcomes nobody
    /// is sent: a replay compares them with the log's instead of encoding the result again.
    var storedResult: [UInt8]?

    /// An outcome nobody will be sent (a replay checks `result`, and `storedResult` when given).
    init(unpublished token: UInt64, result: Result, storedResult: [UInt8]? = nil) {
        self.token = token
        self.result = result
        self.storedResult = storedResult
        reply = []
        events = []
    }

    /// The outcome of `entry` once its batch committed: its place in the stream (epoch `epoch`)
    /// when it took a seq, with `events` (none when nobody subscribed).
    init(_ entry: BatchEntry, epoch: String, events: [EncodedEvent]) {
        // The result as the ledger stored it, when it reached the log: not encoded again.
        self.init(
            token: entry.command.token, requestID: entry.command.request.requestID, result: entry.result,
            events: events, position: entry.logged.map { StreamPosition(seq: $0.seq, epoch: epoch) },
            encodedResult: entry.logged?.storedBytes)
    }

    /// `encodedResult`: a committed result's canonical bytes, when already at hand.
    init(
        token: UInt64, requestID: String, result: Result, events: [EncodedEvent], position: StreamPosition? = nil,
        encodedResult: [UInt8]? = nil
    ) {
        self.token = token
        self.result = result
        self.events = events
        self.position = position
        switch result {
        case .committed(let ack):
            let body = encodedResult.map { ack.canonicalBytes(encodedResult: $0) } ?? ack.canonicalBytes
            reply = WireMessage.replyFrames(.ack, requestID: requestID, encodedBody: body)
        case .failed(let error): reply = WireMessage.replyFrames(.error, requestID: requestID, body: error.json)
        }
    }
}
