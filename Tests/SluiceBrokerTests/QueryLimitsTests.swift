import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// A plugin's queries have limits like its commands: `max_queries_in_flight` and
/// `query_rate_per_second` in its manifest, refused with `rate_limited` past them.
@Suite(.timeLimit(.minutes(2))) struct QueryLimitsTests {
    /// Plugin `reader` (exclusive database) with `limits`, a slow query and a quick one.
    static func broker(limits: JSONValue) throws -> RunningBroker {
        let directory = TemporaryDirectory()
        let folder = try PluginScaffold.create(id: "reader", mode: .exclusiveSQLite, in: directory.path("sources"))
        let manifest: JSONValue = [
            "id": "reader", "version": "1.0.0", "database": ["mode": "exclusive-sqlite"],
            "capabilities": ["data:reader:create"], "limits": limits,
            "contracts": ["reader.item.create@v1", "reader.slow@v1", "reader.count@v1"],
        ]
        try manifest.canonicalString.write(
            to: folder.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
        let queries: [(String, String)] = [
            // Millions of rows of a recursive CTE: long enough to still run when the next query comes.
            ("reader.slow", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) SELECT count(*) FROM c"),
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
        return try RunningBroker(directory: directory)
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
}
