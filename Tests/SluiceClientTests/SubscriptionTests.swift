import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

@Suite(.timeLimit(.minutes(3))) struct SubscriptionTests {
    /// Sends `count` commands, 64 at a time, and returns their acknowledgements.
    func load(_ client: SluiceClient, _ range: Range<Int>) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = range.lowerBound
            func add() {
                let index = next
                next += 1
                group.addTask {
                    try await client.send(
                        "task.create@v1", ["title": .string("s\(index)")], idempotencyKey: "sub-\(index)")
                }
            }
            for _ in 0..<min(64, range.count) { add() }
            while try await group.next() != nil { if next < range.upperBound { add() } }
        }
    }

    @Test func slowSubscriberGetsEverySeqOnceAndInOrder() async throws {
        let broker = try RunningBroker { $0.eventHighWaterMark = 50 }
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, eventEndpoint: broker.eventEndpoint,
            credentials: try broker.operatorCredentials()
        )
        configuration.eventBufferLimit = 100
        configuration.eventHighWaterMark = 50
        let subscriber = try SluiceClient(configuration: configuration)
        let writer = try broker.client()
        defer {
            subscriber.close()
            writer.close()
        }
        try await load(writer, 0..<1)
        var events = subscriber.subscribe(topic: "inval.tasks").makeAsyncIterator()
        #expect(try await events.next()?.seq == 1)

        // The subscriber does not read while 9,999 more commands commit: the broker's PUB and the
        // client's buffer both overflow, so live events are certainly lost.
        try await load(writer, 1..<10_000)
        var seqs: [Int64] = []
        while seqs.count < 9_999, let event = try await events.next() { seqs.append(event.seq) }
        #expect(seqs == Array(2...10_000))
        #expect(events.syncs > 1, "the gap was recovered by SYNC, not by luck")
    }

    @Test func restartedSubscriberResumesFromItsStoredPosition() async throws {
        let broker = try RunningBroker()
        let writer = try broker.client()
        defer { writer.close() }
        try await load(writer, 0..<500)

        var position: StreamPosition?
        do {
            let first = try broker.client()
            var events = first.subscribe(topic: "audit.tasks").makeAsyncIterator()
            for _ in 0..<300 { position = try await events.next().map(StreamPosition.init(after:)) }
            first.close()  // the subscriber goes away with its position stored
        }
        #expect(position?.seq == 300)
        try await load(writer, 500..<800)

        let second = try broker.client()
        defer { second.close() }
        var events = second.subscribe(topic: "audit.tasks", after: position).makeAsyncIterator()
        var seqs: [Int64] = []
        while seqs.count < 500, let event = try await events.next() {
            seqs.append(event.seq)
            #expect(event.body["status"] == "ok")
        }
        #expect(seqs == Array(301...800))
    }

    @Test func replayedEventsAreIdenticalToLiveOnes() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        var live = client.events(topic: "").makeAsyncIterator()
        while let event = try await live.next(), event.topic != Topic.heartbeat {}
        try await load(client, 0..<5)
        var received: [Event] = []
        while received.count < 10, let event = try await live.next() {
            if event.topic.hasPrefix("audit.tasks") || event.topic.hasPrefix("inval.tasks") { received.append(event) }
        }
        for topic in ["audit.tasks", "inval.tasks"] {
            let (stored, end) = try await client.sync(topic: topic, fromSeq: 1)
            #expect(end.complete)
            #expect(end.headSeq == 5)
            #expect(stored == received.filter { $0.topic == topic }.sorted { $0.seq < $1.seq })
        }
    }

    @Test func syncPagesAreBoundedAndChain() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        try await load(client, 0..<25)
        var from: Int64 = 1
        var pages = 0
        var seqs: [Int64] = []
        while true {
            let (events, end) = try await client.sync(topic: "inval.tasks", fromSeq: from, limit: 10)
            #expect(events.count <= 10)
            seqs += events.map(\.seq)
            pages += 1
            if end.complete { break }
            from = end.lastSeq + 1
        }
        #expect(pages == 3)
        #expect(seqs == Array(1...25))
        await #expect(throws: WireError.self) { try await client.sync(topic: "inval.nowhere", fromSeq: 1) }
    }

    /// A page also ends once its events' bodies reach `maxSyncPageBytes` (one event at least),
    /// well before its `limit`; paging on from `last_seq + 1` and a subscription's catch-up
    /// (whose guess of where the next page starts then misses) still get every event once.
    @Test func aSyncPageEndsAtItsByteBudget() async throws {
        let broker = try RunningBroker { $0.maxSyncPageBytes = 1_000 }
        let client = try broker.client()
        defer { client.close() }
        try await load(client, 0..<40)
        var from: Int64 = 1
        var seqs: [Int64] = []
        var pages = 0
        while true {
            let (events, end) = try await client.sync(topic: "audit.tasks", fromSeq: from, limit: 1_000)
            #expect(!events.isEmpty || end.complete)
            // Every event but the last fits under the budget.
            let bytes = events.dropLast().map { $0.body.canonicalBytes().count }.reduce(0, +)
            #expect(bytes < 1_000)
            seqs += events.map(\.seq)
            pages += 1
            if end.complete { break }
            #expect(end.lastSeq == events.last?.seq)
            from = end.lastSeq + 1
        }
        #expect(seqs == Array(1...40))
        #expect(pages >= 8, "40 audit events of a few hundred bytes each, pages of at most 1,000 bytes")
        let one = try await client.sync(topic: "audit.tasks", fromSeq: 40, limit: 1_000)
        #expect(one.events.map(\.seq) == [40] && one.end.complete, "a single event over the budget still goes")

        var delivered: [Int64] = []
        for try await event in client.subscribe(topic: "audit.tasks") {
            delivered.append(event.seq)
            if delivered.count == 40 { break }
        }
        #expect(delivered == Array(1...40))
    }

    /// Catching up, a subscription asks for the next three pages while it delivers the current one
    /// (the broker reads them meanwhile), and every event still arrives once, in order, with no
    /// page asked for twice and none past the head.
    @Test func catchUpAsksForTheNextPagesAhead() async throws {
        let broker = try RunningBroker()
        let writer = try broker.client()
        defer { writer.close() }
        try await load(writer, 0..<4_500)  // five pages of the default 1,000
        let subscriber = try SluiceClient(
            configuration: ClientConfiguration(
                endpoint: broker.commandEndpoint, eventEndpoint: broker.eventEndpoint,
                credentials: try broker.operatorCredentials()))
        defer { subscriber.close() }
        func syncRequests() async throws -> Int64 { try await writer.stats()["sync_requests"]?.intValue ?? -1 }
        let before = try await syncRequests()

        var events = subscriber.subscribe(topic: "audit.tasks").makeAsyncIterator()
        #expect(try await events.next()?.seq == 1)
        // The consumer holds the first event of page one; pages two to four are asked for anyway.
        let deadline = ContinuousClock.now + .seconds(30)
        var asked = try await syncRequests() - before
        while asked < 4, ContinuousClock.now < deadline { asked = try await syncRequests() - before }
        #expect(asked == 4)

        var seqs: [Int64] = [1]
        while seqs.count < 4_500, let event = try await events.next() { seqs.append(event.seq) }
        #expect(seqs == Array(1...4_500))
        #expect(events.syncs == 5)
        #expect(try await syncRequests() - before == 5, "five pages, each asked for once, none past the head")
    }
}

@Suite(.timeLimit(.minutes(2))) struct RestoreTests {
    @Test func restoreBumpsTheEpochAndSubscribersResync() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        var broker: RunningBroker? = try RunningBroker(directory: directory)
        let subscriber = try broker!.client(attemptTimeout: .milliseconds(500), maxAttempts: 40)
        defer { subscriber.close() }
        var writer = try broker!.client()
        for index in 0..<5 { try await writer.send("task.create@v1", ["title": .string("before \(index)")]) }
        try DataDirectoryBackup.backup(dataDirectory: data, to: directory.path("backup"))
        for index in 5..<10 { try await writer.send("task.create@v1", ["title": .string("after \(index)")]) }

        var events = subscriber.subscribe(topic: "inval.tasks").makeAsyncIterator()
        var first: [Event] = []
        while first.count < 10, let event = try await events.next() { first.append(event) }
        #expect(first.map(\.seq) == Array(1...10))
        let oldEpoch = try #require(first.first?.epoch)

        writer.close()
        broker!.stop()
        broker = nil
        do {
            let serving = try RunningBroker(directory: directory)
            defer { serving.stop() }
            #expect(throws: DataDirectoryLock.Held.self, "restore refuses a served directory") {
                _ = try DataDirectoryBackup.restore(from: directory.path("backup"), to: data)
            }
        }
        let epochs = try DataDirectoryBackup.restore(from: directory.path("backup"), to: data)
        #expect(epochs["tasks"] != oldEpoch)

        broker = try RunningBroker(directory: directory)
        writer = try broker!.client()
        defer { writer.close() }
        for index in 0..<2 { try await writer.send("task.create@v1", ["title": .string("restored \(index)")]) }

        // The same subscription, never restarted: it notices the new epoch and resyncs from 1.
        var second: [Event] = []
        while second.count < 7, let event = try await events.next() { second.append(event) }
        #expect(second.map(\.seq) == Array(1...7))
        #expect(second.allSatisfy { $0.epoch == epochs["tasks"] })
    }
}
