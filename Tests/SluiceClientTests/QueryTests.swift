import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

@Suite(.timeLimit(.minutes(2))) struct QueryTests {
    /// Extra contracts on the tasks database: an unrelated table, a slow uncached count and a
    /// runaway recursive query.
    static func contracts(in directory: TemporaryDirectory) throws -> URL {
        let set = directory.path("query-set")
        let files = FileManager.default
        try files.createDirectory(at: set.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        try files.createDirectory(at: set.appendingPathComponent("migrations/tasks"), withIntermediateDirectories: true)
        try "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT NOT NULL);".write(
            to: set.appendingPathComponent("migrations/tasks/900_notes.sql"), atomically: true, encoding: .utf8
        )
        let documents = [
            // task.list with a cache lifetime no loaded test machine outlasts: the cache test is
            // about invalidation, not expiry (task.list's 5 s ran out once in a loaded full run).
            "task.cachedlist": #"""
            {"name": "task.cachedlist", "version": "v1", "kind": "query", "database": "tasks",
             "statements": ["SELECT id, title FROM tasks ORDER BY rowid"], "limits": {"cache_ttl_ms": 600000}}
            """#,
            "note.add": #"""
            {"name": "note.add", "version": "v1", "kind": "command", "database": "tasks",
             "input": {"type": "object", "properties": {"text": {"type": "string"}}},
             "statements": ["INSERT INTO notes(text) VALUES (:text)"]}
            """#,
            "note.find": #"""
            {"name": "note.find", "version": "v1", "kind": "query", "database": "tasks",
             "input": {"type": "object", "properties": {"text": {"type": "string"}}},
             "statements": ["SELECT text, length(CAST(:text AS BLOB)) AS bytes FROM notes WHERE text = :text"]}
            """#,
            "task.slowcount": #"""
            {"name": "task.slowcount", "version": "v1", "kind": "query", "database": "tasks",
             "statements": ["WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT (SELECT count(*) FROM tasks) AS n, count(*) AS spin FROM c"]}
            """#,
            "task.runaway": #"""
            {"name": "task.runaway", "version": "v1", "kind": "query", "database": "tasks", "limits": {"timeout_ms": 300},
             "statements": ["WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"]}
            """#,
        ]
        for (name, text) in documents {
            try text.write(
                to: set.appendingPathComponent("contracts/\(name).v1.json"), atomically: true, encoding: .utf8)
        }
        return set
    }

    static func broker(_ directory: TemporaryDirectory) throws -> RunningBroker {
        let set = try contracts(in: directory)
        return try RunningBroker(directory: directory) { $0.contractDirectories.append(set) }
    }

    func counters(_ client: SluiceClient, _ contract: String) async throws -> JSONValue {
        try await client.stats()["queries"]?[contract] ?? .null
    }

    @Test func sixtyFourIdenticalQueriesCostAtMostTwoExecutions() async throws {
        let directory = TemporaryDirectory()
        let broker = try Self.broker(directory)
        let clients = try (0..<8).map { _ in try broker.client() }
        defer { for client in clients { client.close() } }
        for index in 0..<3 { try await clients[0].send("task.create@v1", ["title": .string("t\(index)")]) }
        let results = try await withThrowingTaskGroup(of: QueryResult.self) { group in
            for index in 0..<64 { group.addTask { try await clients[index % 8].query("task.slowcount@v1") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 64)
        #expect(results.allSatisfy { $0.objects.first?["n"] == 3 && $0.objects.first?["spin"] == 1_000_000 })
        let stats = try await counters(clients[0], "task.slowcount@v1")
        #expect((stats["executions"]?.intValue ?? 99) <= 2)
        #expect((stats["coalesced"]?.intValue ?? 0) >= 62)
    }

    @Test func readYourWritesAndPreciseCacheInvalidation() async throws {
        let directory = TemporaryDirectory()
        let broker = try Self.broker(directory)
        let client = try broker.client()
        defer { client.close() }
        let ack = try await client.send("task.create@v1", ["title": "mine"])
        let first = try await client.query("task.cachedlist@v1")
        #expect(first.seq >= ack.seq)
        #expect(first.objects.map { $0["title"] } == ["mine"])

        _ = try await client.query("task.cachedlist@v1")
        #expect(try await counters(client, "task.cachedlist@v1")["hits"] == 1, "the second read came from the cache")

        // A write to an unrelated table leaves the entry alone (the client asks for seq ≥ that
        // write, and the entry is at an older seq: read-your-writes then forces a fresh read, so
        // check with a second client that has written nothing).
        let other = try broker.client()
        defer { other.close() }
        try await client.send("note.add@v1", ["text": "unrelated"])
        _ = try await other.query("task.cachedlist@v1")
        #expect(try await counters(client, "task.cachedlist@v1")["hits"] == 2)

        // A write to the table it read drops it: the next read executes and sees the row.
        try await other.send("task.create@v1", ["title": "theirs"])
        let afterWrite = try await client.query("task.cachedlist@v1")
        #expect(afterWrite.objects.map { $0["title"] } == ["mine", "theirs"])
        let stats = try await counters(client, "task.cachedlist@v1")
        #expect(stats["hits"] == 2)
        #expect(stats["misses"] == 2)
    }

    @Test func aRunawayQueryIsStoppedAtItsDeadlineAndOthersKeepGoing() async throws {
        let directory = TemporaryDirectory()
        let broker = try Self.broker(directory)
        let client = try broker.client()
        defer { client.close() }
        // The runaway query and the write and read below are in flight together.
        let runaway = Task { try await client.query("task.runaway@v1") }
        let write = try await client.send("task.create@v1", ["title": "meanwhile"])
        let read = try await client.query("task.list@v1")
        #expect(read.objects.map { $0["title"] } == ["meanwhile"])
        #expect(read.seq >= write.seq)
        do {
            _ = try await runaway.value
            Issue.record("the runaway query finished")
        } catch let error as WireError {
            #expect(error.code == .deadlineExceeded)
        }
        #expect(try await counters(client, "task.runaway@v1")["timeouts"] == 1)
    }

    @Test func maxRowsTruncates() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        for index in 0..<5 { try await client.send("task.create@v1", ["title": .string("t\(index)")]) }
        let limited = try await client.query("task.list@v1", limit: 3)
        #expect(limited.rows.count == 3)
        #expect(limited.truncated)
        let all = try await client.query("task.list@v1")
        #expect(all.rows.count == 5)
        #expect(!all.truncated)
    }

    /// Text comes back with every byte, a NUL and characters beyond the BMP included, from a
    /// command's `RETURNING` (the ACK) and from a query (GRDB's rows would stop at the NUL).
    @Test func textComesBackWhole() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        let title = "before\u{0}after é😀 \"quoted\" \\"
        let ack = try await client.send("task.create@v1", ["title": .string(title), "priority": 1])
        #expect(ack.result["rows"]?.arrayValue?.first?["title"]?.stringValue == title)
        let all = try await client.query("task.list@v1")
        let column = try #require(all.columns.firstIndex(of: "title"))
        #expect(all.rows.map { $0[column].stringValue } == [title])
        #expect(all.rows.first?[all.columns.firstIndex(of: "priority") ?? 0] == 1)
    }

    /// A query's parameters bind whole too: text after a NUL still takes part in the match.
    @Test func queryParametersBindWhole() async throws {
        let directory = TemporaryDirectory()
        let broker = try Self.broker(directory)
        let client = try broker.client()
        defer { client.close() }
        let text = "x\u{0}y"
        try await client.send("note.add@v1", ["text": .string(text)])
        try await client.send("note.add@v1", ["text": "x"])
        let found = try await client.query("note.find@v1", ["text": .string(text)])
        #expect(found.rows.map { $0[0].stringValue } == [text])
        #expect(found.rows.first?[1] == .int(Int64(text.utf8.count)))
        #expect(try await client.query("note.find@v1", ["text": "x"]).rows.count == 1)
    }

    @Test(arguments: [
        "INSERT INTO tasks(id) VALUES (1)", "UPDATE tasks SET title = 'x'", "DELETE FROM tasks",
        "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA writable_schema = 1", "  pragma table_info(tasks)",
    ])
    func writingQueriesAreRefusedWhenTheyLoad(_ sql: String) throws {
        let json: JSONValue = [
            "name": "bad.query", "version": "v1", "kind": "query", "database": "tasks", "statements": [.string(sql)],
        ]
        #expect(throws: ContractError.self) { try Contract(json: json, file: "bad.json") }
    }

    @Test func aQueryThatWritesBehindAWithIsRefusedAtStart() throws {
        let directory = TemporaryDirectory()
        let set = directory.path("bad-set")
        try FileManager.default.createDirectory(
            at: set.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        try #"""
        {"name": "sneaky.query", "version": "v1", "kind": "query", "database": "tasks",
         "statements": ["WITH x AS (SELECT 1) DELETE FROM tasks"]}
        """#.write(to: set.appendingPathComponent("contracts/sneaky.json"), atomically: true, encoding: .utf8)
        do {
            _ = try RunningBroker(directory: directory) { $0.contractDirectories.append(set) }
            Issue.record("a writing query was loaded")
        } catch {
            #expect("\(error)".contains("writes"))
        }
    }
}
