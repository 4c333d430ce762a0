public import Foundation
public import SluiceWire
import SluiceZMQ
import Synchronization

/// The async client for a Sluice broker.
///
/// Its ZeroMQ sockets live on a thread of their own, which receives every reply and event; a
/// caller sends its request itself (never waiting: a full queue is left to the resend timer) and
/// suspends, so no caller's executor ever blocks on I/O. Each request carries a request id, and
/// the reply resumes the continuation waiting on that id.
///
/// ```swift
/// let client = try SluiceClient(configuration: .init(endpoint: "ipc://data/sluice.sock"))
/// let ack = try await client.send("task.create@v1", ["title": "write docs"])
/// print(ack.seq, ack.result)
/// ```
public final class SluiceClient: Sendable {
    public let configuration: ClientConfiguration
    let outbox = ClientOutbox()
    let doorbell = Doorbell()
    let context: ZMQContext
    let requestPrefix = String(UUID().uuidString.prefix(8)).lowercased()
    let requestCounter = Atomic<UInt64>(0)
    let finished = DispatchSemaphore(value: 0)
    let isClosed = Atomic<Bool>(false)
    /// Per database, the highest seq this client has seen acknowledged: sent with queries so
    /// they reflect the client's own writes.
    let acknowledgedSeqs = Mutex<[String: Int64]>([:])
    /// Random bits for the default idempotency keys, read from the kernel 4 KiB at a time.
    let keyRandomness = Mutex(BufferedRandom())
    /// Receives replies and events; callers send through it (``ClientSocketThread/submit(_:)``).
    let socketThread: ClientSocketThread

    /// Connects (lazily, as ZeroMQ does: the broker may start later) and starts the socket thread.
    public init(configuration: ClientConfiguration) throws {
        try configuration.autoStart?.ensureRunning()
        self.configuration = configuration
        context = configuration.sharedContext ?? ZMQContext()
        let ready = DispatchSemaphore(value: 0)
        let made = Mutex<Result<ClientSocketThread, SluiceClientError>?>(nil)
        let thread = Thread { [context, doorbell, outbox, configuration, finished] in
            let socketThread: ClientSocketThread
            do {
                socketThread = try ClientSocketThread(context: context, configuration: configuration)
            } catch {
                made.withLock {
                    $0 = .failure(SluiceClientError(code: .protocolViolation, message: "cannot connect: \(error)"))
                }
                ready.signal()
                finished.signal()
                return
            }
            made.withLock { $0 = .success(socketThread) }
            ready.signal()
            socketThread.run(doorbell: doorbell, outbox: outbox)
            finished.signal()
        }
        thread.name = "sluice-client"
        thread.start()
        ready.wait()
        socketThread = try made.withLock { $0! }.get()
    }

    /// Convenience for `ClientConfiguration(endpoint:eventEndpoint:credentials:)`.
    public convenience init(endpoint: String, eventEndpoint: String? = nil, credentials: ClientCredentials? = nil)
        throws
    {
        try self.init(
            configuration: ClientConfiguration(
                endpoint: endpoint, eventEndpoint: eventEndpoint, credentials: credentials)
        )
    }

    deinit { close() }

    /// Fails every waiting call with `closed`, ends event streams and closes the sockets.
    public func close() {
        guard !isClosed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        enqueue(.close)
        finished.wait()
        if configuration.sharedContext == nil { context.terminate() }
    }

    func enqueue(_ item: ClientOutgoing) {
        if outbox.push(item) { doorbell.ring() }
    }

    /// A fresh time-ordered idempotency key (UUID version 7), for a command sent without one.
    func makeIdempotencyKey() -> String {
        keyRandomness.withLock { RandomIdentifier.timeOrderedUUID(using: &$0) }
    }

    func makeRequestID() -> String {
        "\(requestPrefix)-\(requestCounter.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    /// Sends `message` and waits for its reply, retrying on timeout with the same bytes.
    func request(_ message: WireMessage, retryOnOverload: Bool = true) async throws -> WireMessage {
        // Every request but SYNC has exactly one reply; `exchange` never returns an empty array.
        try await exchange(message, retryOnOverload: retryOnOverload).last!.decoded()
    }

    /// Sends `message` and returns every reply that belongs to it, the final one last, their
    /// bodies not yet parsed.
    func exchange(_ message: WireMessage, retryOnOverload: Bool = true) async throws -> [ReceivedMessage] {
        let id = message.requestID ?? makeRequestID()
        var message = message
        message.header["request_id"] = .string(id)
        return try await exchange(
            id: id, frames: [[]] + message.frames(), multipleReplies: message.kind == .sync,
            retryOnOverload: retryOnOverload)
    }

    /// The same for a request already encoded (the delimiter first) under request id `id`.
    func exchange(id: String, frames: [[UInt8]], multipleReplies: Bool, retryOnOverload: Bool) async throws
        -> [ReceivedMessage]
    {
        guard !isClosed.load(ordering: .sequentiallyConsistent) else {
            throw SluiceClientError(code: .closed, message: "the client is closed")
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let request = ClientRequest(
                    id: id, frames: frames, continuation: continuation, retryOnOverload: retryOnOverload,
                    multipleReplies: multipleReplies)
                if socketThread.submit(request) { doorbell.ring() }
            }
        } onCancel: {
            enqueue(.cancel(id))
        }
    }
}
