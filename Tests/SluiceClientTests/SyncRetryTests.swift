import Foundation
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A retried `SYNC` goes out under a new request id, so a late page of the first attempt cannot
/// mix with the retry's. The broker is played by hand: a ROUTER behind a PLAIN handshake that
/// lets anyone in, and that answers only the second attempt.
@Suite(.timeLimit(.minutes(1))) struct SyncRetryTests {
    @Test func aRetriedSyncUsesANewRequestIDAndIgnoresTheFirstAttemptsPages() async throws {
        let directory = TemporaryDirectory()
        let endpoint = "ipc://" + directory.path("fake.sock").path
        let fake = try HandPlayedBroker(endpoint: endpoint)
        defer { fake.close() }
        var configuration = ClientConfiguration(endpoint: endpoint, credentials: ClientCredentials(name: "t", token: "t"))
        configuration.attemptTimeout = .milliseconds(300)
        configuration.maxAttempts = 3
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        async let syncing = client.sync(topic: "audit.tasks", fromSeq: 1)
        // First attempt: no answer. Second: a late page of the first, then the second's end.
        let (firstID, secondID) = try await onDedicatedThread { () throws -> (String, String) in
            guard let first = try fake.receive(), let second = try fake.receive() else { return ("", "") }
            let firstID = (try? WireMessage(frames: Array(first.dropFirst(2))))?.requestID ?? ""
            let secondID = (try? WireMessage(frames: Array(second.dropFirst(2))))?.requestID ?? ""
            try fake.reply(
                to: first[0],
                WireMessage.replyFrames(
                    .replay, requestID: firstID,
                    body: ["topic": "audit.tasks", "stream": "tasks", "seq": 1, "epoch": "e", "event": ["stale": true]]))
            try fake.reply(
                to: second[0],
                WireMessage.replyFrames(
                    .syncEnd, requestID: secondID,
                    body: [
                        "topic": "audit.tasks", "stream": "tasks", "epoch": "e", "last_seq": 0, "head_seq": 0,
                        "complete": true,
                    ]))
            return (firstID, secondID)
        }
        let page = try await syncing
        #expect(page.events.isEmpty, "the first attempt's late REPLAY is not part of the retry's page")
        #expect(page.end.complete)
        #expect(!firstID.isEmpty && !secondID.isEmpty && firstID != secondID, "\(firstID) / \(secondID)")
    }
}
