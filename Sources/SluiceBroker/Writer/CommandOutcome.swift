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
    /// Audit and invalidation events to publish (empty when nothing reached the log).
    var events: [EncodedEvent]
    /// Tables whose rows the command changed, for the query cache.
    var changedTables: [String] = []
    /// True when the command changed rows SQLite could not attribute to a table (WITHOUT ROWID).
    var changedUnnamedRows = false

    /// An outcome nobody will be sent (a replay checks `result` only).
    init(unpublished token: UInt64, result: Result) {
        self.token = token
        self.result = result
        reply = []
        events = []
    }

    init(token: UInt64, requestID: String, result: Result, events: [EncodedEvent]) {
        self.token = token
        self.result = result
        self.events = events
        switch result {
        case .committed(let ack):
            reply = WireMessage.replyFrames(.ack, requestID: requestID, encodedBody: ack.canonicalBytes)
        case .failed(let error): reply = WireMessage.replyFrames(.error, requestID: requestID, body: error.json)
        }
    }
}
