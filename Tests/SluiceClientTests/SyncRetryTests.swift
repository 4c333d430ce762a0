import Foundation
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A retried `SYNC` goes out under a new request id, so a late page of the first attempt cannot
/// mix with the retry's. The broker is played by hand: a ROUTER behind a PLAIN handshake that
/// lets anyone in, and that answers only the second attempt.
@Suite(.timeLimit(.minutes(2))) struct SyncRetryTests {
    @Test func aRetriedSyncUsesANewRequestIDAndIgnoresTheFirstAttemptsPages() async throws {
        let directory = TemporaryDirectory()
        let endpoint = "ipc://" + directory.path("fake.sock").path
        let context = ZMQContext()
        defer { context.terminate() }
        let seen = SeenIDs()
        let bound = DispatchSemaphore(value: 0)
        let fake = Thread {
            // The handshake: every PLAIN client is let in (this test is about the client).
            guard let zap = try? context.socket(.rep), let router = try? context.socket(.router),
                (try? zap.setLinger(0)) != nil, (try? zap.bind("inproc://zeromq.zap.01")) != nil,
                (try? router.setLinger(0)) != nil, (try? router.setPlainServer(domain: "sluice")) != nil,
                (try? router.setReceiveTimeout(10_000)) != nil, (try? router.bind(endpoint)) != nil
            else {
                bound.signal()
                return
            }
            bound.signal()
            defer {
                zap.close()
                router.close()
            }
            guard let request = try? zap.receive() else { return }
            try? zap.send([Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array("t".utf8), []])
            // First attempt: no answer. Second: a late page of the first, then the second's end.
            guard let first = try? router.receive(), let second = try? router.receive() else { return }
            let firstID = (try? WireMessage(frames: Array(first.dropFirst(2))))?.requestID ?? ""
            let secondID = (try? WireMessage(frames: Array(second.dropFirst(2))))?.requestID ?? ""
            let late = WireMessage.replyFrames(
                .replay, requestID: firstID,
                body: ["topic": "audit.tasks", "stream": "tasks", "seq": 1, "epoch": "e", "event": ["stale": true]])
            let end = WireMessage.replyFrames(
                .syncEnd, requestID: secondID,
                body: ["topic": "audit.tasks", "stream": "tasks", "epoch": "e", "last_seq": 0, "head_seq": 0, "complete": true])
            seen.record(firstID, secondID)
            try? router.send([first[0], []] + late)
            try? router.send([second[0], []] + end)
        }
        fake.start()
        bound.wait()

        var configuration = ClientConfiguration(endpoint: endpoint, credentials: ClientCredentials(name: "t", token: "t"))
        configuration.attemptTimeout = .milliseconds(300)
        configuration.maxAttempts = 3
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        let page = try await client.sync(topic: "audit.tasks", fromSeq: 1)
        #expect(page.events.isEmpty, "the first attempt's late REPLAY is not part of the retry's page")
        #expect(page.end.complete)
        let (firstID, secondID) = seen.ids()
        #expect(!firstID.isEmpty && !secondID.isEmpty && firstID != secondID, "\(firstID) / \(secondID)")
    }
}

/// The request ids the fake broker saw, handed from its thread to the test.
final class SeenIDs: @unchecked Sendable {
    // Safe: written once before `recorded` is signalled, read after waiting for it.
    private var first = ""
    private var second = ""
    private let recorded = DispatchSemaphore(value: 0)

    func record(_ first: String, _ second: String) {
        self.first = first
        self.second = second
        recorded.signal()
    }

    func ids() -> (String, String) {
        recorded.wait()
        return (first, second)
    }
}
