public import SluiceWire
import SluiceZMQ

/// A blocking connection to a broker for one thread: the plugin worker thread that sends a command
/// and waits for its `ACK`, or keeps a window of commands in flight.
///
/// ``SluiceClient`` is async: each request goes from the calling task to the client's socket
/// thread and each reply back, a thread hand-off (and a wake-up) each way. This connection sends
/// and receives on the calling thread itself, as a C client of docs/protocol.md does, and costs
/// what such a client costs (docs/benchmarks.md). It sends commands and asks their `STATUS`;
/// queries, `SYNC` and events go through ``SluiceClient``.
///
/// It is not `Sendable`: one thread uses it at a time (one connection per worker thread).
///
/// ```swift
/// let connection = try SluiceConnection(endpoint: "ipc://data/sluice.sock", credentials: credentials)
/// let ack = try connection.send("task.create@v1", ["title": "write docs"])
/// ```
public final class SluiceConnection {
    /// The answer to one command sent with ``submit(_:_:idempotencyKey:deadlineMs:context:)``.
    public struct Reply: Sendable {
        /// The id ``submit(_:_:idempotencyKey:deadlineMs:context:)`` returned for the command.
        public var requestID: String
        /// Its acknowledgement, or the broker's refusal.
        public var outcome: Result<Acknowledgement, WireError>
    }

    public let configuration: ClientConfiguration
    private let context: ZMQContext
    private let dealer: ZMQSocket
    private let handshakes: ZMQSocket
    private var poller = ZMQPoller()
    private let dealerIndex: Int
    private let handshakesIndex: Int
    private let requestPrefix = String(UInt32.random(in: .min ... .max), radix: 16)
    private var requestCounter: UInt64 = 0
    /// Random bits for the default idempotency keys, read from the kernel 4 KiB at a time.
    private var keyRandomness = BufferedRandom()
    /// The request ids of submitted commands not answered yet.
    private var submitted: Set<String> = []
    /// Answers to submitted commands that arrived while ``send(_:_:idempotencyKey:deadlineMs:context:)``
    /// waited for its own: ``nextReply(timeout:)`` hands them out first. At most one per command
    /// submitted.
    private var held: [Reply] = []
    /// The contract of the last command, as given and as parsed.
    private var lastContract: (text: String, id: ContractID)?
    private var refused = false
    private var closed = false
    private let clock = ContinuousClock()

    /// Connects (lazily, as ZeroMQ does: the broker may start later).
    public init(configuration: ClientConfiguration) throws {
        self.configuration = configuration
        context = configuration.sharedContext ?? ZMQContext()
        (dealer, handshakes) = try ClientSocketThread.connectDealer(context: context, configuration: configuration)
        dealerIndex = poller.add(dealer)
        handshakesIndex = poller.add(handshakes)
    }

    /// Convenience for `ClientConfiguration(endpoint:credentials:)`.
    public convenience init(endpoint: String, credentials: ClientCredentials?) throws {
        try self.init(configuration: ClientConfiguration(endpoint: endpoint, credentials: credentials))
    }

    deinit { close() }

    /// Closes the socket; later calls fail with `closed`.
    public func close() {
        guard !closed else { return }
        closed = true
        dealer.close()
        handshakes.close()
        if configuration.sharedContext == nil { context.terminate() }
    }

    /// Runs a command contract and returns its acknowledgement, which arrives only after the
    /// broker durably committed it. Blocks the calling thread. As ``SluiceClient`` does, it sends
    /// the same bytes again when an attempt times out (`attemptTimeout`) or the broker asks to
    /// come back later (`overloaded`, `unavailable`, `rate_limited` with `retry_after_ms`), at
    /// most `maxAttempts` times: the idempotency key makes a retry apply the command once.
    ///
    /// - Throws: `WireError` for a refusal, ``SluiceClientError`` for timeouts, refused
    ///   credentials and a closed connection.
    @discardableResult
    public func send(
        _ contract: String, _ payload: JSONValue, idempotencyKey: String? = nil, deadlineMs: Int? = nil,
        context: CallerContext? = nil
    ) throws -> Acknowledgement {
        let (id, frames) = try command(contract, payload, idempotencyKey, deadlineMs, context)
        return try Self.commandReply(id, try exchange(id, frames)).outcome.get()
    }

    /// Asks whether the command sent with `idempotencyKey` committed (`STATUS`): what to do after
    /// ``send(_:_:idempotencyKey:deadlineMs:context:)`` timed out. `db` names the database when
    /// the key may be in several. Blocks; retried as `send` is.
    public func status(idempotencyKey: String, db: String? = nil) throws -> CommandStatus {
        try checkUsable()
        var body: [String: JSONValue] = ["idempotency_key": .string(idempotencyKey)]
        if let db { body["db"] = .string(db) }
        let id = nextRequestID()
        let message = WireMessage(kind: .status, header: ["request_id": .string(id)], body: .object(JSONObject(body)))
        let reply = try exchange(id, [[]] + message.frames()).decoded()
        if reply.kind == .error { throw WireError(json: reply.body) }
        guard reply.kind == .statusReply, let status = CommandStatus(json: reply.body) else {
            throw SluiceClientError(code: .protocolViolation, message: "expected STATUS_REPLY, got \(reply.kind)")
        }
        return status
    }

    /// Sends `frames` (request id `id`) and waits for its answer, sending the same bytes again
    /// when an attempt times out or the broker asks to come back later, at most `maxAttempts`
    /// times. Answers to submitted commands that arrive meanwhile are kept for ``nextReply(timeout:)``.
    private func exchange(_ id: String, _ frames: [[UInt8]]) throws -> ReceivedMessage {
        var attempt = 1
        transmit(frames)  // (a full queue is tried again when the attempt times out)
        var waitUntil = clock.now + configuration.attemptTimeout
        // Waiting out the broker's retry_after_ms: the next attempt is due at `waitUntil`.
        var retryDue = false
        while true {
            guard let (replyID, message) = try receive(until: waitUntil) else {
                if !retryDue {
                    guard attempt < configuration.maxAttempts else {
                        throw SluiceClientError(
                            code: .timedOut,
                            message:
                                "no reply after \(attempt) attempts; ask STATUS with the idempotency key or send again with it"
                        )
                    }
                    attempt += 1
                }
                retryDue = false
                configuration.onRetry?(id, attempt)
                transmit(frames)
                waitUntil = clock.now + configuration.attemptTimeout
                continue
            }
            guard replyID == id else {
                // A submitted command's answer is kept for `nextReply`; anything else is a late
                // answer to an attempt already answered, and is dropped.
                if submitted.remove(replyID) != nil { held.append(Self.commandReply(replyID, message)) }
                continue
            }
            if message.kind == .error, attempt < configuration.maxAttempts,
                let error = try? WireError(json: message.decoded().body), error.asksToComeBackLater
            {
                attempt += 1
                retryDue = true
                waitUntil = clock.now + .milliseconds(error.retryAfterMs ?? 100)
                continue
            }
            return message
        }
    }

    /// Sends a command without waiting: its answer comes from ``nextReply(timeout:)`` under the
    /// returned request id. Keeping several in flight is how one thread reaches the broker's
    /// batch rates. Nothing is resent here: after a timeout, submit the command again with the
    /// same idempotency key (it is then applied once).
    ///
    /// - Throws: ``SluiceClientError`` `timedOut` when ZeroMQ's queue toward the broker is full
    ///   (no broker reached, or it does not read), `closed`, `credentialsRefused`.
    public func submit(
        _ contract: String, _ payload: JSONValue, idempotencyKey: String? = nil, deadlineMs: Int? = nil,
        context: CallerContext? = nil
    ) throws -> String {
        let (id, frames) = try command(contract, payload, idempotencyKey, deadlineMs, context)
        guard transmit(frames) else {
            throw SluiceClientError(
                code: .timedOut,
                message: "the queue toward the broker is full (no broker reached, or it is not reading): try again later")
        }
        submitted.insert(id)
        return id
    }

    /// The next answer to a submitted command, waiting at most `timeout`; nil when none came.
    /// Each submitted command is answered once here (a late second answer, to a command submitted
    /// again under a new id, comes under that id).
    public func nextReply(timeout: Duration) throws -> Reply? {
        if !held.isEmpty { return held.removeFirst() }
        let deadline = clock.now + timeout
        while let (id, message) = try receive(until: deadline) {
            if submitted.remove(id) != nil { return Self.commandReply(id, message) }
        }
        return nil
    }

    /// A `COMMAND`'s request id and frames (the empty delimiter first).
    private func command(
        _ contract: String, _ payload: JSONValue, _ idempotencyKey: String?, _ deadlineMs: Int?,
        _ context: CallerContext?
    ) throws -> (String, [[UInt8]]) {
        try checkUsable()
        let id: ContractID
        if let last = lastContract, last.text == contract {
            id = last.id  // a worker thread mostly sends one contract: parsed once
        } else {
            guard let parsed = ContractID(contract) else {
                throw WireError(.invalidMessage, "'\(contract)' is not of the form name@version")
            }
            id = parsed
            lastContract = (contract, parsed)
        }
        let requestID = nextRequestID()
        let key = idempotencyKey ?? RandomIdentifier.timeOrderedUUID(using: &keyRandomness)
        let request = CommandRequest(
            requestID: requestID, contract: id, idempotencyKey: key, deadlineMs: deadlineMs, context: context,
            payload: payload)
        return (requestID, request.frames(delimited: true))
    }

    /// Throws when nothing can be sent: the connection is closed, or the broker refused its
    /// credentials at the last handshake.
    private func checkUsable() throws {
        guard !closed else { throw SluiceClientError(code: .closed, message: "the connection is closed") }
        if refused { throw configuration.credentialsRefusal }
    }

    private func nextRequestID() -> String {
        requestCounter += 1
        return "\(requestPrefix)-\(requestCounter)"
    }

    /// Queues `frames` toward the broker; false when ZeroMQ's queue is full.
    @discardableResult
    private func transmit(_ frames: [[UInt8]]) -> Bool {
        do {
            try dealer.send(frames, dontWait: true)
            return true
        } catch {
            return false
        }
    }

    /// The next reply and its request id, its body not parsed yet; nil once `deadline` passes. A
    /// refused handshake throws `credentialsRefused`; frames that are not a reply to a request
    /// are skipped.
    private func receive(until deadline: ContinuousClock.Instant) throws -> (String, ReceivedMessage)? {
        while true {
            if let frames = try dealer.receive(dontWait: true) {
                if frames.first?.isEmpty == true,
                    let message = try? ReceivedMessage(frames: frames.dropFirst()), let id = message.requestID
                {
                    return (id, message)
                }
                continue
            }
            if let frames = try handshakes.receive(dontWait: true) {
                if let event = ZMQMonitorEvent(frames: frames) {
                    if event.kind == .handshakeSucceeded { refused = false }
                    if configuration.isRefusal(event) {
                        refused = true
                        throw configuration.credentialsRefusal
                    }
                }
                continue
            }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return nil }
            _ = try poller.poll(timeoutMilliseconds: Int(remaining.wholeMilliseconds) + 1)
        }
    }

    /// What the answer `message` to command `id` says: its acknowledgement or the broker's refusal.
    private static func commandReply(_ id: String, _ message: ReceivedMessage) -> Reply {
        do {
            let body = try message.decoded().body
            switch message.kind {
            case .ack:
                guard let acknowledgement = Acknowledgement(json: body) else {
                    return Reply(requestID: id, outcome: .failure(WireError(.invalidMessage, "malformed ACK body")))
                }
                return Reply(requestID: id, outcome: .success(acknowledgement))
            case .error:
                return Reply(requestID: id, outcome: .failure(WireError(json: body)))
            default:
                return Reply(
                    requestID: id, outcome: .failure(WireError(.invalidMessage, "expected ACK or ERROR, got \(message.kind)")))
            }
        } catch {
            return Reply(requestID: id, outcome: .failure(error))
        }
    }
}
