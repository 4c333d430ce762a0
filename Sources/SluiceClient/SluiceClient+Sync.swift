public import SluiceWire

extension SluiceClient {
    /// One page of a topic's stored events from `fromSeq` on (`SYNC`): at most `limit` events and
    /// where the page ended. Ask again from `end.lastSeq + 1` until `end.complete`.
    public func sync(topic: String, fromSeq: Int64, limit: Int = SyncRequest.defaultLimit) async throws -> (
        events: [Event], end: SyncEnd
    ) {
        let page = try await syncPage(topic: topic, fromSeq: fromSeq, limit: limit)
        return (try page.events(), page.end)
    }

    /// A `SYNC` page as received: its end read, its `REPLAY`s not yet parsed.
    func syncPage(topic: String, fromSeq: Int64, limit: Int = SyncRequest.defaultLimit) async throws -> ReceivedSyncPage {
        var replies = try await exchange(
            SyncRequest(topic: topic, fromSeq: fromSeq, limit: limit).message(requestID: makeRequestID()))
        guard let last = replies.popLast(), last.kind == .syncEnd, let end = SyncEnd(json: try last.decoded().body) else {
            throw SluiceClientError(code: .protocolViolation, message: "a SYNC page did not end with SYNC_END")
        }
        return ReceivedSyncPage(fromSeq: fromSeq, replays: replies, end: end)
    }

    /// Every event of `topic`, exactly once and in seq order, from just after `position` (or
    /// from the stream's beginning) — even when the broker's PUB or this client's buffer drops
    /// events, the subscriber is slow, or it reconnects.
    ///
    /// Built on the ZeroMQ Guide's Clone pattern: subscribe first, then `SYNC` the stored history
    /// page by page, then deliver live events, discarding those at or below the last seq
    /// delivered. A seq that jumps, or a heartbeat announcing a seq not yet seen, means events
    /// were lost: the subscription syncs again from where it is. If the stream's epoch changes
    /// (its history was replaced), it starts over from seq 1 of the new epoch.
    ///
    /// The sequence pulls: a consumer that stops iterating stops the syncing too.
    public func subscribe(topic: String, after position: StreamPosition? = nil) -> GapFreeSubscription {
        GapFreeSubscription(client: self, topic: topic, firstSeq: (position?.seq ?? 0) + 1, epoch: position?.epoch)
    }

    /// Like ``subscribe(topic:after:)``, from `fromSeq` of whatever epoch the stream is in now.
    public func subscribe(topic: String, fromSeq: Int64) -> GapFreeSubscription {
        GapFreeSubscription(client: self, topic: topic, firstSeq: max(1, fromSeq), epoch: nil)
    }
}

/// A gap-free, in-order, exactly-once stream of one topic's events; see
/// ``SluiceClient/subscribe(topic:after:)``.
public struct GapFreeSubscription: AsyncSequence, Sendable {
    public typealias Element = Event

    let client: SluiceClient
    let topic: String
    let firstSeq: Int64
    let epoch: String?

    public func makeAsyncIterator() -> Iterator {
        // Subscribe before the first SYNC, so nothing published in between can slip through.
        Iterator(
            client: client, topic: topic, stream: Topic.stream(of: topic) ?? topic,
            live: client.events(topics: [topic, Topic.heartbeat]).makeAsyncIterator(),
            nextSeq: firstSeq, epoch: epoch
        )
    }

    public struct Iterator: AsyncIteratorProtocol {
        let client: SluiceClient
        let topic: String
        let stream: String
        var live: AsyncThrowingStream<Event, any Error>.Iterator
        /// The seq the consumer gets next.
        var nextSeq: Int64
        var epoch: String?
        /// The SYNC page being delivered, its REPLAYs parsed one at a time as they are handed out
        /// (what one event's parse allocates is freed before the next: the heap does not grow by
        /// a page of parsed events).
        var page: [ReceivedMessage] = []
        var pageIndex = 0
        var needsSync = true
        /// The next `SYNC` pages, asked for while the current one is delivered: at most
        /// ``pagesAskedAhead``, in seq order, each with the seq it was asked from.
        var askedAhead: [(fromSeq: Int64, page: Task<ReceivedSyncPage, any Error>)] = []
        /// Pages in flight keep the broker's reader busy while this client parses: with one, the
        /// reader waited for each ask; three catch up ~1.2× as fast as two (`sluice-bench
        /// replay`, docs/benchmarks.md), holding at most four pages.
        static let pagesAskedAhead = 3
        /// How many SYNC pages this subscription asked for (the first catch-up included).
        public private(set) var syncs = 0

        public mutating func next() async throws -> Event? {
            while true {
                try Task.checkCancellation()
                if pageIndex < page.count {
                    let replay = page[pageIndex]
                    pageIndex += 1
                    let event = try ReceivedSyncPage.event(replay)
                    guard event.seq == nextSeq else { continue }
                    nextSeq += 1
                    return event
                }
                if needsSync {
                    try await syncPage()
                    continue
                }
                guard let event = try await live.next() else { return nil }
                if event.topic == Topic.heartbeat {
                    guard let announced = event.body["streams"]?[stream] else { continue }
                    if let announcedEpoch = announced["epoch"]?.stringValue, announcedEpoch != epoch {
                        needsSync = true
                    } else if let seq = announced["seq"]?.intValue, seq >= nextSeq {
                        needsSync = true  // the heartbeat has seen events we have not: some were dropped
                    }
                    continue
                }
                guard event.topic == topic else { continue }
                if event.epoch != epoch {
                    needsSync = true
                    continue
                }
                if event.seq < nextSeq { continue }  // already delivered (from a SYNC page)
                if event.seq > nextSeq {
                    needsSync = true  // a gap
                    continue
                }
                nextSeq += 1
                return event
            }
        }

        private mutating func syncPage() async throws {
            syncs += 1
            var received = try await nextPage()
            if received.end.epoch != epoch {
                if epoch != nil {
                    // History replaced (or the stored position is from another epoch): start over.
                    nextSeq = 1
                    askedAhead.removeAll()
                    received = try await client.syncPage(topic: topic, fromSeq: 1)
                }
                epoch = received.end.epoch
            }
            needsSync = !received.end.complete
            if needsSync { askAhead(after: received.end) } else { askedAhead.removeAll() }
            page = received.replays
            pageIndex = 0
        }

        /// Asks for the pages after `end` now, so the broker reads them while this one is parsed
        /// and delivered: the next from `end.lastSeq + 1`, each further one from where the one
        /// before it ends if it is full (seqs are consecutive in a database's log) — none past
        /// the head `end` saw. A page asked for ahead is used only if it starts where the page
        /// before it ended (``nextPage()``); a guess that missed costs one page read, never an
        /// event.
        private mutating func askAhead(after end: SyncEnd) {
            var from = end.lastSeq + 1
            if askedAhead.first?.fromSeq != from { askedAhead.removeAll() }
            if let last = askedAhead.last { from = last.fromSeq + Int64(SyncRequest.defaultLimit) }
            while askedAhead.count < Self.pagesAskedAhead, from <= end.headSeq {
                let page = Task { [client, topic, from] in try await client.syncPage(topic: topic, fromSeq: from) }
                askedAhead.append((from, page))
                from += Int64(SyncRequest.defaultLimit)
            }
        }

        /// The page from `nextSeq`: the one asked for ahead when it starts there, else a new `SYNC`
        /// (also when asking ahead failed: a failure that still holds fails this one too).
        private mutating func nextPage() async throws -> ReceivedSyncPage {
            if !askedAhead.isEmpty {
                let ahead = askedAhead.removeFirst()
                if ahead.fromSeq == nextSeq, let received = try? await ahead.page.value, received.fromSeq == nextSeq {
                    return received
                }
                askedAhead.removeAll()
            }
            return try await client.syncPage(topic: topic, fromSeq: nextSeq)
        }
    }
}

/// A `SYNC` page as the socket thread hands it over: the `SYNC_END` read, the `REPLAY`s parsed
/// only by ``events()``.
struct ReceivedSyncPage: Sendable {
    /// The seq the page was asked from.
    let fromSeq: Int64
    let replays: [ReceivedMessage]
    let end: SyncEnd

    func events() throws -> [Event] { try replays.map(Self.event) }

    /// The event a `REPLAY` carries.
    static func event(_ received: ReceivedMessage) throws -> Event {
        // The body alone: the header was read when the reply arrived. The event inside it is
        // checked, and built only when the consumer asks for it.
        guard received.kind == .replay,
            let (envelope, text) = try? JSONValue.parsingObject(received.bodyFrame, keepingTextOf: "event"),
            let topic = envelope["topic"]?.stringValue, let stream = envelope["stream"]?.stringValue,
            let seq = envelope["seq"]?.intValue, let epoch = envelope["epoch"]?.stringValue,
            let body = envelope["event"]
        else { throw SluiceClientError(code: .protocolViolation, message: "malformed REPLAY") }
        if let text { return Event(topic: topic, stream: stream, seq: seq, epoch: epoch, body: text) }
        return Event(topic: topic, stream: stream, seq: seq, epoch: epoch, body: body)
    }
}
