import SluiceWire
import Synchronization

/// A request waiting for its reply, as handed to the socket thread.
///
/// Most requests have one reply. A `SYNC` has several (`REPLAY`s, then `SYNC_END`): they are
/// collected and handed over together, the final message last.
struct ClientRequest: Sendable {
    var id: String
    var frames: [[UInt8]]
    var continuation: CheckedContinuation<[WireMessage], any Error>
    var retryOnOverload: Bool
}

/// Work callers queue for the socket thread.
enum ClientOutgoing: Sendable {
    case request(ClientRequest)
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
