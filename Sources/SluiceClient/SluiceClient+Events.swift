public import SluiceWire
import Synchronization

extension SluiceClient {
    /// Events whose topic starts with `topic` (`audit.`, `inval.tasks`, `hb`, or "" for all), as
    /// they are published. Best effort, like any ZeroMQ PUB/SUB: events published before the
    /// subscription reached the broker, or dropped at the high-water mark, are not delivered; use
    /// each event's `seq` to notice a gap.
    ///
    /// At most ``ClientConfiguration/eventBufferLimit`` events wait for a slow consumer; newer
    /// ones are dropped (their seqs show the gap). ``subscribe(topic:after:)`` recovers from that.
    public func events(topic: String) -> AsyncThrowingStream<Event, any Error> {
        events(topics: [topic])
    }

    /// Events whose topic starts with any of `topics`.
    public func events(topics: [String]) -> AsyncThrowingStream<Event, any Error> {
        let id = subscriptionCounter.wrappingAdd(1, ordering: .relaxed).newValue
        return AsyncThrowingStream(bufferingPolicy: .bufferingOldest(configuration.eventBufferLimit)) { continuation in
            continuation.onTermination = { [weak self] _ in self?.enqueue(.unsubscribe(id: id)) }
            enqueue(.subscribe(id: id, prefixes: topics, continuation: continuation))
        }
    }
}

let subscriptionCounter = Atomic<UInt64>(0)
