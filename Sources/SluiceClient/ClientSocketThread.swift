import Foundation
import SluiceWire
import SluiceZMQ

/// The client's socket thread: owns the SUB socket and the DEALER's receiving side, matches
/// replies to waiting requests by request id, resends on timeout, and fans events out to
/// subscribers.
///
/// Callers send their requests themselves (``submit(_:)``): registering a request and sending it
/// on the DEALER from the caller's thread spares a wake-up of this thread per request (what a
/// request used to cost: the caller rang a doorbell, this thread woke to send). The DEALER is
/// never used by two threads at once — every use of it, and every access to the waiting table,
/// is under `lock` — and this thread waits for replies by polling the DEALER's signal
/// descriptor (`ZMQ_FD`), an OS descriptor, rather than inside ZeroMQ, so it holds no ZeroMQ
/// call open while a caller sends. Everything marked "under `lock`" below is only touched with
/// it held; the rest belongs to this thread alone.
final class ClientSocketThread: @unchecked Sendable {
    struct Waiting {
        var request: ClientRequest
        var attempts: Int
        var resendAt: ContinuousClock.Instant
    }

    let configuration: ClientConfiguration
    /// Under `lock`.
    let dealer: ZMQSocket
    let subscriber: ZMQSocket?
    /// The dealer's handshake outcomes (a `zmq_socket_monitor` PAIR).
    let handshakes: ZMQSocket
    private let lock = NSLock()
    /// The thread has stopped: requests fail at once. Under `lock`.
    private var stopped = false
    /// The broker refused this client's credentials at its last handshake: requests fail at once
    /// with ``SluiceClientError/Code/credentialsRefused`` until a handshake succeeds. Under `lock`.
    var credentialsRefused = false
    /// Under `lock`.
    var waiting: [String: Waiting] = [:]
    /// A retried `SYNC` goes out under a new request id (so a late page of the first attempt can
    /// never mix with the next one's): the caller's id → the id now on the wire. Under `lock`.
    var resentAs: [String: String] = [:]
    var subscriptions:
        [UInt64: (prefixes: [String], continuation: AsyncThrowingStream<Event, any Error>.Continuation)] =
            [:]
    /// `REPLAY`s received so far for a `SYNC` request, by request id. Under `lock`.
    var partialReplies: [String: [ReceivedMessage]] = [:]
    let clock = ContinuousClock()
    /// No waiting request needs a resend before this instant; the waiting table is scanned only
    /// when it passes, not on every wake-up (with many requests in flight a scan per reply would
    /// cost more than the reply). Kept after the table empties, until it passes: a steady caller
    /// then finds it set and does not need to wake the thread to have its deadline seen. Under
    /// `lock`.
    var nextResendCheck: ContinuousClock.Instant?
    /// Retries to report to ``ClientConfiguration/onRetry`` once `lock` is released (the callback
    /// may call into the client). Under `lock`.
    private var retriesToReport: [(id: String, attempt: Int)] = []

    init(context: ZMQContext, configuration: ClientConfiguration) throws {
        self.configuration = configuration
        (dealer, handshakes) = try ClientSocketThread.connectDealer(context: context, configuration: configuration)
        let credentials = configuration.credentials ?? .anonymous
        if let eventEndpoint = configuration.eventEndpoint {
            let subscriber = try context.socket(.sub)
            try ClientSocketThread.present(credentials, on: subscriber, endpoint: eventEndpoint)
            try subscriber.setLinger(0)
            try subscriber.setReceiveHighWaterMark(configuration.eventHighWaterMark)
            try subscriber.setReconnectInterval(100)
            try subscriber.connect(eventEndpoint)
            self.subscriber = subscriber
        } else {
            subscriber = nil
        }
    }

    private func locked<Result>(_ body: () throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Registers `request` and sends it, on the caller's thread. True when the socket thread
    /// must be woken (``SluiceClient`` rings its doorbell): it may be asleep past this request's
    /// resend deadline, or the send took in the signal of a reply it would then miss.
    func submit(_ request: ClientRequest) -> Bool {
        locked {
            if stopped {
                request.continuation.resume(throwing: SluiceClientError(code: .closed, message: "the client was closed"))
                return false
            }
            if credentialsRefused {
                request.continuation.resume(throwing: refusal)
                return false
            }
            let resendAt = clock.now + configuration.attemptTimeout
            waiting[request.id] = Waiting(request: request, attempts: 1, resendAt: resendAt)
            let asleepPastIt = nextResendCheck.map { $0 > resendAt } ?? true
            scheduleResendCheck(resendAt)
            transmit(request)
            return asleepPastIt || dealer.hasIncoming
        }
    }

    func run(doorbell: Doorbell, outbox: ClientOutbox) {
        var poller = ZMQPoller()
        let dealerIndex = locked { dealer.signalDescriptor }.map { poller.add(fileDescriptor: $0) }
        let doorbellIndex = poller.add(fileDescriptor: doorbell.fileDescriptor)
        let subscriberIndex = subscriber.map { poller.add($0) }
        let handshakesIndex = poller.add(handshakes)
        var running = true
        while running {
            let readable: [Bool]
            do {
                // Not at all when a reply is already waiting (this thread's own sends and receives
                // may have taken its signal); without the DEALER's descriptor (never on Linux),
                // at least every 10 ms.
                let timeout = locked { dealer.hasIncoming ? 0 : nextTimeoutMilliseconds() }
                let bounded = dealerIndex != nil ? timeout : (timeout < 0 ? 10 : min(timeout, 10))
                readable = try poller.poll(timeoutMilliseconds: bounded)
            } catch {
                break
            }
            if readable[doorbellIndex] {
                doorbell.reset()
                for item in outbox.drain() where running { running = take(item) }
            }
            // Every wake-up, whatever woke it: the descriptor only says something may have
            // changed, and a caller's send may have taken its signal.
            locked {
                while let frames = try? dealer.receive(dontWait: true) { deliver(frames) }
            }
            if readable[handshakesIndex] {
                while let frames = try? handshakes.receive(dontWait: true) {
                    if let event = ZMQMonitorEvent(frames: frames) { locked { noteHandshake(event) } }
                }
            }
            if let subscriberIndex, readable[subscriberIndex], let subscriber {
                // Parsed first, then handed over together: a consumer woken by the first event of
                // a burst finds the rest waiting, instead of being woken again for each one while
                // the next is parsed. (At most a bounded burst per pass; the poll sees the rest.)
                var events: [Event] = []
                while events.count < ClientSocketThread.maximumEventBurst,
                    let frames = try? subscriber.receive(dontWait: true)
                {
                    if let event = try? Event(frames: frames) { events.append(event) }
                }
                dispatch(events)
            }
            let retries: [(id: String, attempt: Int)] = locked {
                resendExpired()
                defer { retriesToReport.removeAll() }
                return retriesToReport
            }
            for retry in retries { configuration.onRetry?(retry.id, retry.attempt) }
        }
        let closed = SluiceClientError(code: .closed, message: "the client was closed")
        locked {
            stopped = true
            for entry in waiting.values { entry.request.continuation.resume(throwing: closed) }
            waiting.removeAll()
            partialReplies.removeAll()
            dealer.close()
        }
        for subscription in subscriptions.values { subscription.continuation.finish() }
        subscriptions.removeAll()
        // Anything queued after close is failed too, so no caller waits forever.
        for item in outbox.drain() {
            if case .subscribe(_, _, let continuation) = item { continuation.finish() }
        }
        subscriber?.close()
        handshakes.close()
    }

    /// Applies one queued item; false means close.
    private func take(_ item: ClientOutgoing) -> Bool {
        switch item {
        case .cancel(let callerID):
            locked {
                let id = resentAs.removeValue(forKey: callerID) ?? callerID
                partialReplies.removeValue(forKey: id)
                waiting.removeValue(forKey: id)?.request.continuation.resume(throwing: CancellationError())
            }
        case .subscribe(let id, let prefixes, let continuation):
            guard let subscriber else {
                continuation.finish(throwing: SluiceClientError(code: .closed, message: "no event endpoint configured"))
                return true
            }
            do {
                for prefix in prefixes { try subscriber.subscribe(prefix) }
                subscriptions[id] = (prefixes, continuation)
            } catch {
                continuation.finish(throwing: error)
            }
        case .unsubscribe(let id):
            if let subscription = subscriptions.removeValue(forKey: id) {
                for prefix in subscription.prefixes { try? subscriber?.unsubscribe(prefix) }
            }
        case .close:
            return false
        }
        return true
    }

    /// The DEALER to the broker's request endpoint, presenting `configuration`'s credentials, and
    /// the PAIR that reports its handshakes' outcomes (a `zmq_socket_monitor`).
    static func connectDealer(context: ZMQContext, configuration: ClientConfiguration) throws -> (
        dealer: ZMQSocket, handshakes: ZMQSocket
    ) {
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try dealer.setReconnectInterval(100)
        try dealer.setHeartbeat(interval: 5000, timeout: 15_000, ttl: 15_000)
        try present(configuration.credentials ?? .anonymous, on: dealer, endpoint: configuration.endpoint)
        let monitorEndpoint = "inproc://sluice-client-handshakes-\(UInt64.random(in: .min ... .max))"
        try dealer.monitor(
            endpoint: monitorEndpoint,
            events: [.handshakeSucceeded, .handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail])
        let handshakes = try context.socket(.pair)
        try handshakes.setLinger(0)
        try handshakes.connect(monitorEndpoint)
        try dealer.connect(configuration.endpoint)
        return (dealer, handshakes)
    }

    /// PLAIN name and token on ipc; on tcp, CURVE keys when the credentials have them (a CURVE
    /// broker refuses anything else), else no mechanism (a broker run with `--insecure-tcp`).
    static func present(_ credentials: ClientCredentials, on socket: ZMQSocket, endpoint: String) throws {
        guard endpoint.hasPrefix("tcp://") else {
            try socket.setPlainCredentials(username: credentials.name, password: credentials.token)
            return
        }
        if let curve = credentials.curve {
            try socket.setCurveClient(
                serverKey: curve.serverPublicKey, publicKey: curve.publicKey, secretKey: curve.secretKey)
        }
    }

    /// A refused handshake (``ClientConfiguration/isRefusal(_:)``) fails every waiting request at
    /// once: the broker will never answer them.
    private func noteHandshake(_ event: ZMQMonitorEvent) {
        let refused = configuration.isRefusal(event)
        if event.kind == .handshakeSucceeded {
            credentialsRefused = false
        } else if refused {
            credentialsRefused = true
            for entry in waiting.values { entry.request.continuation.resume(throwing: refusal) }
            waiting.removeAll()
            partialReplies.removeAll()
            nextResendCheck = nil
        }
    }

    private var refusal: SluiceClientError { configuration.credentialsRefusal }

    private func transmit(_ request: ClientRequest) {
        do {
            try dealer.send(request.frames, dontWait: true)
        } catch {
            // Queue full or no connection yet: the resend timer tries again.
        }
    }

    private func deliver(_ frames: [[UInt8]]) {
        // Only the shape and the header are read here (the request id routes the reply); the
        // caller's task parses the body.
        guard frames.first?.isEmpty == true, let message = try? ReceivedMessage(frames: frames.dropFirst()),
            let id = message.requestID, let entry = waiting[id]
        else { return }  // a late reply to a request already answered or abandoned
        switch message.kind {
        case .error:
            let error: WireError
            do {
                error = WireError(json: try message.decoded().body)
            } catch let malformed {
                finish(id, entry, .failure(malformed))
                return
            }
            // The broker asked us to come back later: do so (same request, same key), within the attempts.
            if error.asksToComeBackLater, entry.request.retryOnOverload, entry.attempts < configuration.maxAttempts {
                let delay = Duration.milliseconds(error.retryAfterMs ?? 100)
                waiting[id]?.resendAt = clock.now + delay
                scheduleResendCheck(clock.now + delay)
                return
            }
            finish(id, entry, .failure(error))
        case .replay:
            partialReplies[id, default: []].append(message)
        default:
            finish(id, entry, .success(message))
        }
    }

    /// Ends the request waiting under `id`: its caller gets `outcome` (after the `REPLAY`s
    /// collected for it, when it succeeds).
    private func finish(_ id: String, _ entry: Waiting, _ outcome: Result<ReceivedMessage, WireError>) {
        waiting.removeValue(forKey: id)
        resentAs.removeValue(forKey: entry.request.callerID)
        var collected = partialReplies.removeValue(forKey: id) ?? []
        switch outcome {
        case .success(let final):
            collected.append(final)
            entry.request.continuation.resume(returning: collected)
        case .failure(let error): entry.request.continuation.resume(throwing: error)
        }
    }

    /// Events parsed before any is handed over (see ``run(doorbell:outbox:)``).
    static let maximumEventBurst = 256

    private func dispatch(_ events: [Event]) {
        for event in events {
            for subscription in subscriptions.values
            where subscription.prefixes.contains(where: event.topic.hasPrefix) {
                subscription.continuation.yield(event)
            }
        }
    }

    private func scheduleResendCheck(_ instant: ContinuousClock.Instant) {
        if let current = nextResendCheck, current <= instant { return }
        nextResendCheck = instant
    }

    private func resendExpired() {
        let now = clock.now
        guard let check = nextResendCheck, check <= now else { return }
        nextResendCheck = nil
        for (id, entry) in waiting {
            guard entry.resendAt <= now else {
                scheduleResendCheck(entry.resendAt)
                continue
            }
            if entry.attempts >= configuration.maxAttempts {
                waiting.removeValue(forKey: id)
                resentAs.removeValue(forKey: entry.request.callerID)
                entry.request.continuation.resume(
                    throwing: SluiceClientError(
                        code: .timedOut,
                        message:
                            "no reply after \(entry.attempts) attempts; ask STATUS with the idempotency key or send again with it"
                    )
                )
            } else {
                let resendAt = now + configuration.attemptTimeout
                var entry = entry
                entry.attempts += 1
                entry.resendAt = resendAt
                if partialReplies.removeValue(forKey: id) != nil || entry.request.multipleReplies {
                    // A SYNC starts over under a fresh request id: replies to the old one are
                    // then ignored as unknown.
                    waiting.removeValue(forKey: id)
                    entry.request.renumber("\(entry.request.callerID)~\(entry.attempts)")
                    resentAs[entry.request.callerID] = entry.request.id
                }
                waiting[entry.request.id] = entry
                scheduleResendCheck(resendAt)
                transmit(entry.request)
                retriesToReport.append((entry.request.callerID, entry.attempts))
            }
        }
    }

    private func nextTimeoutMilliseconds() -> Int {
        guard let check = nextResendCheck else { return -1 }
        return max(0, Int(clock.now.duration(to: check).wholeMilliseconds) + 1)
    }
}
