import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// Projections: a plugin reads a slice of the tasks data, copied into its database by the broker
/// after every commit that changes it, with the source seq it reflects; only the broker writes it.
@Suite(.timeLimit(.minutes(5))) struct ProjectionTests {
    static let projection = """
        {
          "name": "open_tasks",
          "description": "Tasks not done yet, for plugins that show them.",
          "source": {"db": "tasks", "query": "SELECT id, title, priority FROM tasks WHERE done = :done", "params": {"done": 0}},
          "target": {"db": "plugins", "table": "open_tasks"},
          "columns": ["id", "title", "priority"]
        }
        """

    /// The same projection with a deliberately slow query (a bounded cross join, tens of
    /// milliseconds): the crash test needs refreshes long enough that a kill lands inside one.
    static let slowProjection = projection.replacingOccurrences(
        of: "WHERE done = :done",
        with: "WHERE done = :done AND (SELECT count(*) FROM (SELECT 1 FROM tasks LIMIT 400) a, (SELECT 1 FROM tasks LIMIT 400) b) >= 0")

    /// The tasks contract set plus the `open_tasks` projection into the shared plugins database.
    static func contractSet(in directory: TemporaryDirectory, slowRefresh: Bool = false) throws -> URL {
        let set = directory.path("contracts")
        try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
        for folder in ["contracts", "migrations"] {
            try FileManager.default.copyItem(
                at: Fixtures.tasksContracts.appendingPathComponent(folder), to: set.appendingPathComponent(folder))
        }
        try FileManager.default.createDirectory(
            at: set.appendingPathComponent("projections"), withIntermediateDirectories: true)
        try (slowRefresh ? slowProjection : projection).write(
            to: set.appendingPathComponent("projections/open_tasks.json"), atomically: true, encoding: .utf8)
        return set
    }

    /// A shared-database plugin with a query contract `<id>.open.list@v1` (its `statement`), granted
    /// `capabilities` besides its own, and optionally a command contract `<id>.poke@v1`.
    static func plugin(
        _ id: String, in directory: TemporaryDirectory, capabilities: [String],
        statement: String = "SELECT id, title, priority FROM open_tasks ORDER BY id", command: String? = nil,
        migration: String? = nil
    ) throws -> URL {
        let folder = try PluginScaffold.create(id: id, mode: .shared, in: directory.path("sources"))
        let manifestFile = folder.appendingPathComponent("plugin.json")
        var manifest = try JSONValue(parsing: Array(try Data(contentsOf: manifestFile))).objectMembers ?? JSONObject()
        let own = "data:\(id):create"
        manifest["capabilities"] = .array(([own] + capabilities).map(JSONValue.string))
        var contracts = ["\(id).item.create@v1", "\(id).open.list@v1"]
        let query: JSONValue = [
            "name": .string("\(id).open.list"), "version": "v1", "kind": "query", "capability": .string(own),
            "input": ["type": "object", "additionalProperties": false], "statements": [.string(statement)],
            "limits": ["cache_ttl_ms": 60_000],
        ]
        try query.canonicalString.write(
            to: folder.appendingPathComponent("contracts/\(id).open.list.v1.json"), atomically: true, encoding: .utf8)
        if let command {
            contracts.append("\(id).poke@v1")
            let contract: JSONValue = [
                "name": .string("\(id).poke"), "version": "v1", "kind": "command", "capability": .string(own),
                "input": ["type": "object"], "statements": [.string(command)],
            ]
            try contract.canonicalString.write(
                to: folder.appendingPathComponent("contracts/\(id).poke.v1.json"), atomically: true, encoding: .utf8)
        }
        if let migration {
            try migration.write(
                to: folder.appendingPathComponent("migrations/002_more.sql"), atomically: true, encoding: .utf8)
        }
        manifest["contracts"] = .array(contracts.map(JSONValue.string))
        try JSONValue.object(manifest).canonicalString.write(to: manifestFile, atomically: true, encoding: .utf8)
        return folder
    }

    /// A data directory with plugin `alpha` (granted the projection) installed against `set`.
    static func installAlpha(_ directory: TemporaryDirectory, set: URL) throws {
        try PluginCatalog(dataDirectory: directory.path("data")).install(
            from: try plugin("alpha", in: directory, capabilities: ["projection:open_tasks:read"]),
            contractDirectories: [set])
    }

    static func broker(_ directory: TemporaryDirectory, set: URL) throws -> RunningBroker {
        try RunningBroker(directory: directory) { $0.contractDirectories = [set] }
    }

    /// The open tasks, straight from tasks.db, as the projection's rows.
    static func openTasks(_ data: URL) throws -> [[JSONValue]] {
        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        return try db.read { db in
            try Row.fetchAll(db, sql: "SELECT id, title, priority FROM tasks WHERE done = 0 ORDER BY id").map {
                [.string($0["id"]), .string($0["title"]), .int($0["priority"])]
            }
        }
    }

    @Test func aPluginReadsEachSourceCommitInTheProjectionWhenItAsksForThatSeq() async throws {
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory)
        try Self.installAlpha(directory, set: set)
        let broker = try Self.broker(directory, set: set)
        defer { broker.stop() }
        let writer = try broker.client()
        let alpha = try PluginTests.client(broker, as: "alpha")
        defer {
            writer.close()
            alpha.close()
        }
        var created: [String] = []
        for index in 0..<12 {
            let ack = try await writer.send(
                "task.create@v1", ["title": .string("task \(index)"), "priority": .int(Int64(index % 5))],
                idempotencyKey: "create-\(index)")
            created.append(try #require(ack.result["rows"]?.arrayValue?.first?["id"]?.stringValue))
            var seq = ack.seq
            if index % 3 == 2 {
                // Completing a task takes it out of the projection.
                seq = try await writer.send(
                    "task.complete@v1", ["id": .string(created[index - 1])], idempotencyKey: "complete-\(index)"
                ).seq
            }
            let result = try await alpha.query("alpha.open.list@v1", minSourceSeq: seq)
            #expect(result.columns == ["id", "title", "priority"])
            #expect(try result.projections["open_tasks"].map { $0 >= seq } == true)
            #expect(result.rows == (try Self.openTasks(directory.path("data"))), "after seq \(seq)")
        }
        #expect(try Self.openTasks(directory.path("data")).count == 8)
        // Refreshes commit with NORMAL (docs/projections.md); the plugins' own commands still with FULL.
        #expect(try broker.broker.writerSynchronousModes()["plugins"] == .full)
    }

    @Test func readYourWritesReachesTheProjectionsOfTheDatabaseWritten() async throws {
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory)
        try Self.installAlpha(directory, set: set)
        let broker = try Self.broker(directory, set: set)
        defer { broker.stop() }
        // The operator may run every contract: it writes tasks, then reads alpha's projection with
        // nothing but the client's own read-your-writes (`after`).
        let client = try broker.client()
        defer { client.close() }
        for index in 0..<10 {
            let ack = try await client.send(
                "task.create@v1", ["title": .string("mine \(index)")], idempotencyKey: "mine-\(index)")
            let result = try await client.query("alpha.open.list@v1")
            #expect(result.rows.contains { $0.first == ack.result["rows"]?.arrayValue?.first?["id"] }, "the row of seq \(ack.seq)")
        }
    }

    @Test func aSeqTheProjectionDoesNotReachInTimeIsAnsweredStale() async throws {
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory)
        try Self.installAlpha(directory, set: set)
        let broker = try Self.broker(directory, set: set)
        defer { broker.stop() }
        let alpha = try PluginTests.client(broker, as: "alpha")
        defer { alpha.close() }
        do {
            _ = try await alpha.query("alpha.open.list@v1", deadlineMs: 300, minSourceSeq: 1_000)
            Issue.record("a seq the source never reached must be answered stale")
        } catch let error as WireError {
            #expect(error.code == .stale)
            #expect(error.retryable)
            #expect(error.details["projection"] == "open_tasks")
            #expect(error.details["source_db"] == "tasks")
            #expect(error.details["source_seq"] == .int(0))
            #expect(error.details["min_source_seq"] == .int(1_000))
        }
        // And without a projection to wait for, min_source_seq is a malformed request.
        let client = try broker.client()
        defer { client.close() }
        do {
            _ = try await client.query("task.list@v1", minSourceSeq: 1)
            Issue.record("task.list reads no projection")
        } catch let error as WireError {
            #expect(error.code == .invalidMessage)
            #expect(error.details["field"] == "min_source_seq")
        }
    }

    @Test func aPluginWithoutTheCapabilityCannotReadTheProjection() throws {
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory)
        try Self.installAlpha(directory, set: set)
        let beta = try Self.plugin("beta", in: directory, capabilities: [])
        do {
            try PluginCatalog(dataDirectory: directory.path("data")).install(from: beta, contractDirectories: [set])
            Issue.record("beta reads open_tasks without projection:open_tasks:read")
        } catch let error as IsolationError {
            #expect(error.plugin == "beta")
            #expect(error.reason.contains("open_tasks"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("data/installed/beta").path))
    }

    @Test(arguments: [
        ("INSERT INTO open_tasks(id, title, priority) VALUES (:_id, 'forged', 0)", nil as String?),
        ("UPDATE open_tasks SET title = 'forged'", nil),
        ("DELETE FROM open_tasks", nil),
        // A command reading it would depend on data its database's log does not hold.
        ("INSERT INTO beta_items(id, title, created_at, created_by) SELECT id, title, '', '' FROM open_tasks", nil),
        ("SELECT 1", "DROP TABLE open_tasks"),
        ("SELECT 1", "CREATE TABLE open_tasks(id TEXT)"),
        ("SELECT 1", "CREATE TRIGGER forge AFTER INSERT ON open_tasks BEGIN DELETE FROM open_tasks; END"),
    ])
    func aGrantedPluginStillCannotWriteTheProjection(_ command: String, _ migration: String?) throws {
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory)
        try Self.installAlpha(directory, set: set)
        let beta = try Self.plugin(
            "beta", in: directory, capabilities: ["projection:open_tasks:read"], command: command, migration: migration)
        do {
            try PluginCatalog(dataDirectory: directory.path("data")).install(from: beta, contractDirectories: [set])
            Issue.record("beta writes open_tasks: \(command) / \(migration ?? "")")
        } catch let error as IsolationError {
            #expect(error.plugin == "beta")
            #expect(error.reason.contains("open_tasks"), "\(error)")
        }
    }

    /// SIGKILL under load on the source, at a moment where the projection lags its source (checked
    /// on the files before the restart); the restarted broker rebuilds it, and `verify` finds the
    /// table exactly the query's rows at the source's seq.
    @Test func killedBetweenASourceCommitAndItsRefreshTheProjectionIsExactAfterRestart() async throws {
        let rounds = Int(ProcessInfo.processInfo.environment["SLUICE_PROJECTION_CRASH_ROUNDS"] ?? "") ?? 3
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory, slowRefresh: true)
        try Self.installAlpha(directory, set: set)
        let data = directory.path("data")
        var registry = try ContractRegistry(directories: [set])
        try registry.loadInstalledPlugins(dataDirectory: data)
        let projection = try #require(registry.projections["open_tasks"])
        var lagged = 0
        for round in 0..<rounds {
            let broker = try BrokerProcess(dataDirectory: data, contracts: set)
            let load = try ProcessTests().client(broker, attemptTimeout: .seconds(10))
            try await ProcessTests().waitUntilServing(broker)
            let record = ProcessTests.LoadRecord()
            let writers = (0..<4).map { writer in
                Task {
                    for index in 0..<100_000 {
                        let key = "r\(round)-w\(writer)-\(index)"
                        guard
                            let ack = try? await load.send(
                                "task.create@v1", ["title": .string(key)], idempotencyKey: key)
                        else { break }
                        await record.acknowledge(key, ack)
                    }
                    await record.writerStopped()
                }
            }
            await record.waitForAcknowledgements(Int.random(in: 200...600))
            broker.kill9()
            load.close()
            for writer in writers { await writer.value }
            #expect(broker.waitForExit(limit: 20))

            let atCrash = try ProjectionCheck.check(projection, registry: registry, dataDirectory: data, compareRows: false)
            if atCrash.verdict == .behind { lagged += 1 }

            let restarted = try BrokerProcess(dataDirectory: data, contracts: set)
            try await ProcessTests().waitUntilServing(restarted)
            let check = try ProjectionCheck.check(projection, registry: registry, dataDirectory: data, compareRows: true)
            #expect(check.verdict == .exact, "round \(round): \(check)")
            #expect(check.reflectedSeq == check.sourceSeq)
            #expect(check.rows == Int64(try Self.openTasks(data).count))
            #expect(restarted.terminate() == 0)
        }
        // The kill must have landed between a source commit and its refresh at least once, or this
        // test proved nothing about catching up.
        #expect(lagged > 0, "the projection never lagged its source at the kill")
    }

    /// `sluice projections list | verify | rebuild` and `sluice query --min-source-seq`, run as a
    /// person would: verify passes a fresh projection, finds a row forged into the table by hand
    /// (exit 1), and passes again after a rebuild.
    @Test func theProjectionsCommandsListVerifyAndRebuild() async throws {
        let directory = TemporaryDirectory()
        let set = try Self.contractSet(in: directory)
        try Self.installAlpha(directory, set: set)
        let data = directory.path("data")
        let common = ["--data-dir", data.path, "--contracts", set.path]
        let broker = try BrokerProcess(dataDirectory: data, contracts: set)
        try await ProcessTests().waitUntilServing(broker)
        let client = try ProcessTests().client(broker, attemptTimeout: .seconds(10))
        var seq: Int64 = 0
        for index in 0..<3 {
            seq = try await client.send("task.create@v1", ["title": .string("cli \(index)")], idempotencyKey: "cli-\(index)").seq
        }
        client.close()
        let query = try Fixtures.run(
            "sluice",
            ["query", "alpha.open.list@v1", "--json", "--min-source-seq", String(seq), "--data-dir", data.path])
        #expect(query.status == 0, "\(query.output)")
        let result = try JSONValue(parsing: query.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(result["rows"]?.arrayValue?.count == 3)
        #expect(result["projections"]?["open_tasks"] == .int(seq))
        #expect(broker.terminate() == 0)

        let list = try Fixtures.run("sluice", ["projections", "list", "--json"] + common)
        #expect(list.status == 0, "\(list.output)")
        let listed = try JSONValue(parsing: list.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(listed["name"] == "open_tasks")
        #expect(listed["reflected_seq"] == .int(seq))
        #expect(listed["source_seq"] == .int(seq))
        #expect(listed["rows"] == 3)
        #expect(try Fixtures.run("sluice", ["projections", "verify", "open_tasks"] + common).status == 0)

        // A row forged into the table behind the broker's back is drift.
        let plugins = try DatabaseQueue(path: data.appendingPathComponent("plugins.db").path)
        try await plugins.write { db in
            try db.execute(sql: "INSERT INTO open_tasks VALUES ('forged', 'not a task', 0)")
        }
        let drift = try Fixtures.run("sluice", ["projections", "verify", "open_tasks", "--json"] + common)
        #expect(drift.status == 1, "\(drift.output)")
        let verdict = try JSONValue(parsing: drift.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(verdict["verdict"] == "drift")
        #expect(verdict["extra_rows"] == 1)
        #expect(verdict["missing_rows"] == 0)

        let rebuild = try Fixtures.run("sluice", ["projections", "rebuild", "open_tasks"] + common)
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.output.contains("3 row(s) at source seq \(seq)"))
        #expect(try Fixtures.run("sluice", ["projections", "verify"] + common).status == 0)

        // A text changed only after a NUL is drift too (GRDB's rows stop at the NUL).
        try await plugins.write { db in
            try db.execute(
                sql: "UPDATE open_tasks SET title = title || char(0) || 'x' WHERE rowid = (SELECT min(rowid) FROM open_tasks)")
        }
        let hidden = try Fixtures.run("sluice", ["projections", "verify", "open_tasks", "--json"] + common)
        #expect(hidden.status == 1, "\(hidden.output)")
        let hiddenVerdict = try JSONValue(parsing: hidden.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(hiddenVerdict["verdict"] == "drift")
        #expect(hiddenVerdict["extra_rows"] == 1 && hiddenVerdict["missing_rows"] == 1)
        #expect(try Fixtures.run("sluice", ["projections", "rebuild", "open_tasks"] + common).status == 0)

        // The command log does not fill projection tables: a replay of the plugins database leaves
        // them out, and its verification does not count them as differences.
        let replay = try Fixtures.run(
            "sluice",
            ["replay", "plugins", "--into", directory.path("replayed/plugins.db").path, "--verify"] + common)
        #expect(replay.status == 0, "\(replay.output)")

        let unknown = try Fixtures.run("sluice", ["projections", "verify", "no_such"] + common)
        #expect(unknown.status == 2, "\(unknown.output)")
        #expect(unknown.output.contains("no projection named no_such"))
    }
}
