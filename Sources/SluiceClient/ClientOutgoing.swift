import SluiceWire
import Synchronization

/// A request waiting for its reply, as handed to the socket thread.
struct ClientRequest: Sendable {
    var id: String
    var frames: [[UInt8]]
    var continuation: CheckedContinuation<WireMessage, any Error>
    var retryOnOverload: Bool
}

/// Work callers queue for the socket thread.
enum ClientOutgoing: Sendable {
    case request(ClientRequest)
    case cancel(String)
    case subscribe(id: UInt64, prefix: String, continuation: AsyncThrowingStream<Event, any Error>.Continuation)
    case unsubscribe(id: UInt64)
    case close
}

/// The queue between callers (any thread) and the socket thread; ringing the doorbell wakes it.
final class ClientOutbox: Sendable {
    private let items = Mutex<[ClientOutgoing]>([])

    func push(_ item: ClientOutgoing) { items.withLock { $0.append(item) } }

    func drain() -> [ClientOutgoing] {
        items.withLock { items in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}
