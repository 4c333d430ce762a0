import SluiceWire
import Synchronization

/// A request waiting for its reply, as handed to the socket thread.
///
/// Most requests have one reply. A `SYNC` has several (`REPLAY`s, then `SYNC_END`): they are
/// collected and handed over together, the final message last. Replies are handed over with their
/// bodies unparsed: the caller's task parses them, not the socket thread.
struct ClientRequest: Sendable {
    /// The request id on the wire now (changes when a `SYNC` is retried).
    var id: String
    var frames: [[UInt8]]
    var continuation: CheckedContinuation<[ReceivedMessage], any Error>
    var retryOnOverload: Bool
    /// The id the caller knows it by (for cancellation).
    var callerID: String
    /// Several replies (`SYNC`): a retry must not reuse the id.
    var multipleReplies: Bool

    init(
        id: String, frames: [[UInt8]], continuation: CheckedContinuation<[ReceivedMessage], any Error>,
        retryOnOverload: Bool, multipleReplies: Bool = false
    ) {
        self.id = id
        self.frames = frames
        self.continuation = continuation
        self.retryOnOverload = retryOnOverload
        callerID = id
        self.multipleReplies = multipleReplies
    }

    /// Gives the request a new id, in its header frame too.
    mutating func renumber(_ newID: String) {
        guard frames.count == 5, case .object(var header)? = try? JSONValue(parsing: frames[3]) else { return }
        header["request_id"] = .string(newID)
        frames[3] = JSONValue.object(header).canonicalBytes()
        id = newID
    }
}

/// Work callers queue for the socket thread (requests are not queued: callers send them
/// themselves, ``ClientSocketThread/submit(_:)``).
enum ClientOutgoing: Sendable {
    case cancel(String)
    case subscribe(id: UInt64, prefixes: [String], continuation: AsyncThrowingStream<Event, any Error>.Continuation)
    case unsubscribe(id: UInt64)
    case close
}

/// The queue between callers (any thread) and the socket thread; ringing the doorbell wakes it.
final class ClientOutbox: Sendable {
    private let items = Mutex<[ClientOutgoing]>([])

    /// Queues `item`; true when the queue was empty, i.e. the socket thread needs a ring. When it
    /// was not empty, a ring is already pending and the thread will drain this item with the rest.
    func push(_ item: ClientOutgoing) -> Bool {
        items.withLock { items in
            items.append(item)
            return items.count == 1
        }
    }

    func drain() -> [ClientOutgoing] {
        items.withLock { items in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}
