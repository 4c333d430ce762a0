import SluiceWire

/// A command that passed admission, with everything the I/O thread fixed for it: the values a
/// replay must reproduce (`timestamp`, `generatedID`) and the bookkeeping to answer it.
struct AdmittedCommand: Sendable {
    /// The I/O thread's handle for the waiting client(s).
    var token: UInt64
    var actor: String
    var request: CommandRequest
    var contract: Contract
    var timestamp: String
    /// `timestamp` in milliseconds since 1970; idempotency expiry is judged against it.
    var admittedMs: Int64
    var generatedID: String
    var receivedAt: UInt64
    /// Monotonic nanoseconds after which the command must not start.
    var deadline: UInt64?
}

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
    var changedTables: Set<String> = []
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

    init(topic: String, stream: String, seq: Int64, epoch: String, body: [UInt8]) {
        self.stream = stream
        self.seq = seq
        self.epoch = epoch
        frames = Event.frames(topic: topic, stream: stream, seq: seq, epoch: epoch, body: body)
    }
}

/// Messages a writer thread receives.
enum WriterMessage: Sendable {
    case command(AdmittedCommand)
    /// Commit what is queued, answer it, then stop.
    case drainAndStop
    /// Snapshot the database and drop log rows older than the newest `keep`.
    case compact(token: UInt64, keep: Int64)
}

/// Messages the I/O thread receives from the threads that work for it.
enum BrokerNotice: Sendable {
    case outcomes([CommandOutcome])
    case status(token: UInt64, CommandStatus)
    case publish([EncodedEvent])
    /// The answer to a `COMPACT`: the `COMPACTED` body, or why it failed.
    case compacted(token: UInt64, Result<JSONValue, WireError>)
    /// A query reader finished a query (and is idle again).
    case queryAnswer(QueryReader.Answer)
    /// The reply messages of one `SYNC` page, in order.
    case replay(token: UInt64, messages: [[[UInt8]]])
    case stopped(String)
}
