import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// A plugin's queries have limits like its commands: `max_queries_in_flight` and
/// `query_rate_per_second` in its manifest, refused with `rate_limited` past them.
@Suite(.timeLimit(.minutes(2))) struct QueryLimitsTests {
    /// Plugin `reader` (exclusive database) with `limits`, a slow query, an endless one and a
    /// quick one.
    static func broker(limits: JSONValue, queryReaders: Int = 2) throws -> RunningBroker {
        let directory = TemporaryDirectory()
        let folder = try PluginScaffold.create(id: "reader", mode: .exclusiveSQLite, in: directory.path("sources"))
        let manifest: JSONValue = [
            "id": "reader", "version": "1.0.0", "database": ["mode": "exclusive-sqlite"],
            "capabilities": ["data:reader:create"], "limits": limits,
            "contracts": ["reader.item.create@v1", "reader.slow@v1", "reader.endless@v1", "reader.count@v1"],
        ]
        try manifest.canonicalString.write(
            to: folder.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
        let queries: [(String, String)] = [
            // Millions of rows of a recursive CTE: long enough to still run when the next query comes.
            ("reader.slow", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) SELECT count(*) FROM c"),
            // Far longer than any test waits (2e12 rows): only its deadline or a cancellation stops it.
            ("reader.endless", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000000) SELECT count(*) FROM c"),
            ("reader.count", "SELECT count(*) FROM reader_items"),
        ]
        for (name, sql) in queries {
            let contract: JSONValue = [
                "name": .string(name), "version": "v1", "kind": "query", "capability": "data:reader:create",
                "input": ["type": "object"], "statements": [.string(sql)], "limits": ["timeout_ms": 60_000],
            ]
            try contract.canonicalString.write(
                to: folder.appendingPathComponent("contracts/\(name).v1.json"), atomically: true, encoding: .utf8)
        }
        try PluginCatalog(dataDirectory: directory.path("data")).install(from: folder)
        return try RunningBroker(directory: directory) { $0.queryReaderThreads = queryReaders }
    }

    /// Plugin `reader`'s client, trying once: the Swift client otherwise waits `retry_after_ms`
    /// and tries again after `rate_limited`.
    static func reader(_ broker: RunningBroker) throws -> SluiceClient {
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: "reader"))
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "reader", token: token))
        configuration.maxAttempts = 1
        configuration.attemptTimeout = .seconds(60)
        return try SluiceClient(configuration: configuration)
    }

    @Test func queriesPastMaxQueriesInFlightAreRateLimited() async throws {
        let broker = try Self.broker(limits: ["max_queries_in_flight": 1])
        defer { broker.stop() }
        let reader = try Self.reader(broker)
        defer { reader.close() }
        async let slow = reader.query("reader.slow@v1", deadlineMs: 60_000)
        // The slow one is in flight until it answers; the stats round trip orders the two.
        _ = try await reader.stats()
        do {
            _ = try await reader.query("reader.count@v1")
            Issue.record("a second query was admitted past max_queries_in_flight 1")
        } catch let error as WireError {
            #expect(error.code == .rateLimited)
            #expect(error.details["limit"] == "max_queries_in_flight")
            #expect(error.retryAfterMs != nil)
        }
        #expect(try await slow.rows == [[.int(20_000_000)]])
        // Answered: the slot is free again.
        #expect(try await reader.query("reader.count@v1").rows == [[0]])
    }

    @Test func queriesPastQueryRatePerSecondAreRateLimited() async throws {
        // One query per 100 s: the burst is one query (a bucket holds at least one), the next
        // waits for the refill, however slowly this machine answers the first.
        let broker = try Self.broker(limits: ["query_rate_per_second": 0.01])
        defer { broker.stop() }
        let reader = try Self.reader(broker)
        defer { reader.close() }
        _ = try await reader.query("reader.count@v1")
        do {
            _ = try await reader.query("reader.count@v1")
            Issue.record("a second query within the same 100 s was admitted")
        } catch let error as WireError {
            #expect(error.code == .rateLimited)
            #expect(error.details["limit"] == "query_rate_per_second")
            #expect((error.retryAfterMs ?? 0) > 1000)
        }
    }

    /// A query whose client went away is stopped, not run to its deadline: with one query reader,
    /// the next client's query runs at once. Without the cancellation it would wait behind the
    /// endless query past its own deadline (`deadline_exceeded`).
    @Test func aQueryWhoseClientWentAwayIsInterrupted() async throws {
        let broker = try Self.broker(limits: [:], queryReaders: 1)
        defer { broker.stop() }
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: "reader"))
        do {
            let gone = try RawSocket(
                .dealer, endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "reader", token: token))
            let endless = WireMessage(
                kind: .query, header: ["request_id": "endless", "contract": "reader.endless@v1", "deadline_ms": 60_000],
                body: [:])
            try gone.send([[]] + endless.frames())
            // One connection's requests are handled in order: once the PING is answered, the
            // endless query has been handed to the (only, idle) reader.
            let pong = try #require(try gone.request(WireMessage(kind: .ping, header: ["request_id": "p"], body: [:])))
            #expect(pong.kind == .pong)
        }  // the socket closes here, its query unanswered

        let reader = try Self.reader(broker)
        defer { reader.close() }
        let count = try await reader.query("reader.count@v1", deadlineMs: 20_000)
        #expect(count.rows == [[0]])

        let operatorClient = try broker.client()
        defer { operatorClient.close() }
        let stats = try await operatorClient.stats()
        #expect(stats["queries"]?["reader.endless@v1"]?["cancelled"] == 1)
        broker.stop()
        // The read audit says what became of it.
        let reads = try ReadAudit.records(
            dataDirectory: broker.broker.configuration.dataDirectory, actor: "reader", database: nil, since: nil)
        let endlessReads = reads.filter { $0["contract"] == "reader.endless@v1" }
        #expect(endlessReads.count == 1)
        #expect(endlessReads.first?["status"] == "cancelled")
        #expect(endlessReads.first?["request_id"] == "endless")
    }
}
