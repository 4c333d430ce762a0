public import SluiceWire
import Synchronization

extension SluiceClient {
    /// Events whose topic starts with `topic` (`audit.`, `inval.tasks`, `hb`, or "" for all), as
    /// they are published. Best effort, like any ZeroMQ PUB/SUB: events published before the
    /// subscription reached the broker, or dropped at the high-water mark, are not delivered; use
    /// each event's `seq` to notice a gap.
    public func events(topic: String) -> AsyncThrowingStream<Event, any Error> {
        let id = subscriptionCounter.wrappingAdd(1, ordering: .relaxed).newValue
        return AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
            continuation.onTermination = { [weak self] _ in self?.enqueue(.unsubscribe(id: id)) }
            enqueue(.subscribe(id: id, prefix: topic, continuation: continuation))
        }
    }
}

let subscriptionCounter = Atomic<UInt64>(0)
