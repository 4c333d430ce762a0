import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// A plugin's SQL reaches only the tables its own migrations create, decided by SQLite's
/// authorizer: a hostile plugin is refused at install and, if its files are dropped into the data
/// directory by hand, at broker start — with nothing of another plugin's changed.
@Suite(.timeLimit(.minutes(2))) struct IsolationTests {
    /// Scaffolds plugin `id`, then replaces its contract's statement and/or adds a migration.
    static func plugin(
        _ id: String, in directory: TemporaryDirectory, mode: PluginManifest.DatabaseMode = .shared,
        statement: String? = nil, migration: String? = nil
    ) throws -> URL {
        let folder = try PluginScaffold.create(id: id, mode: mode, in: directory.path("sources"))
        if let statement {
            let file = folder.appendingPathComponent("contracts/\(id).item.create.v1.json")
            var contract = try JSONValue(parsing: Array(try Data(contentsOf: file))).objectValue ?? [:]
            contract["statements"] = [.string(statement)]
            try JSONValue.object(contract).canonicalString.write(to: file, atomically: true, encoding: .utf8)
        }
        if let migration {
            try migration.write(
                to: folder.appendingPathComponent("migrations/002_hostile.sql"), atomically: true, encoding: .utf8)
        }
        return folder
    }

    /// Installs a well-behaved plugin `alpha` (shared database) and writes one row through it.
    static func victim(in directory: TemporaryDirectory) async throws -> URL {
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(from: try plugin("alpha", in: directory))
        let broker = try RunningBroker(directory: directory)
        let client = try PluginTests.client(broker, as: "alpha")
        defer { client.close() }
        _ = try await client.send("alpha.item.create@v1", ["title": "mine"], idempotencyKey: "a1")
        broker.stop()
        return data
    }

    /// Copies a plugin into `installed/` by hand, past `sluice plugins install`'s checks.
    static func dropIn(_ source: URL, data: URL) throws {
        let target = data.appendingPathComponent("installed/\(source.lastPathComponent)")
        try FileManager.default.copyItem(at: source, to: target)
        try TokenStore(dataDirectory: data).ensureToken(for: source.lastPathComponent)
    }

    static func alphaRows(_ data: URL) throws -> Int {
        try TasksDatabase.count(TasksDatabase.open(data.appendingPathComponent("plugins.db")), "SELECT count(*) FROM alpha_items")
    }

    func refusedAtStart(_ data: URL, directory: TemporaryDirectory) -> IsolationError? {
        var configuration = BrokerConfiguration(dataDirectory: data)
        configuration.contractDirectories = [Fixtures.tasksContracts]
        do {
            let broker = try Broker(configuration: configuration)
            try broker.start()
            broker.shutdown()
            broker.wait()
            return nil
        } catch let error as IsolationError {
            return error
        } catch {
            Issue.record("expected an IsolationError, got \(error)")
            return nil
        }
    }

    @Test(arguments: [
        ("ATTACH DATABASE 'core.db' AS core", "ATTACH"),
        ("INSERT INTO sluice_ledger(actor, idempotency_key, payload_hash, seq, status, result, committed_at, expires_ms) VALUES ('x', :title, '', 1, 'ok', '', '', 0)", "sluice_ledger"),
        ("DELETE FROM sluice_log", "sluice_log"),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema"),
        ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
        ("COMMIT", "transaction control"),
        ("CREATE TABLE beta_extra(x)", "only migrations change the schema"),
    ])
    func hostileContractStatementIsRefusedAtInstall(_ statement: String, _ named: String) throws {
        let directory = TemporaryDirectory()
        let source = try Self.plugin("beta", in: directory, statement: statement)
        #expect {
            try PluginCatalog(dataDirectory: directory.path("data")).install(from: source)
        } throws: { error in
            "\(error)".contains(named) && "\(error)".contains("beta")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("data/installed/beta").path))
    }

    /// Installed by hand, past install's checks: the authorizer on the real shared database sees
    /// alpha's table and refuses beta's statements that touch it; the broker does not start and
    /// alpha's rows are intact.
    @Test(arguments: [
        "UPDATE alpha_items SET title = :title",
        "DELETE FROM alpha_items WHERE :title IS NOT NULL",
        "INSERT INTO beta_items(id, title, created_at, created_by) SELECT id, :title, created_at, created_by FROM alpha_items",
        "WITH stolen AS (SELECT title FROM alpha_items) SELECT title FROM stolen WHERE :title IS NOT NULL",
    ])
    func contractReachingAnotherPluginsTableIsRefusedAtStart(_ statement: String) async throws {
        let directory = TemporaryDirectory()
        let data = try await Self.victim(in: directory)
        try Self.dropIn(try Self.plugin("beta", in: directory, statement: statement), data: data)
        let error = try #require(refusedAtStart(data, directory: directory))
        #expect(error.plugin == "beta")
        #expect(error.reason.contains("alpha_items"), "\(error)")
        #expect(try Self.alphaRows(data) == 1)
    }

    @Test(arguments: [
        "DROP TABLE IF EXISTS alpha_items;",
        "CREATE TRIGGER beta_spy AFTER INSERT ON alpha_items BEGIN DELETE FROM alpha_items; END;",
        "ALTER TABLE alpha_items ADD COLUMN owned_by_beta TEXT;",
        "CREATE INDEX beta_index ON alpha_items(title);",
        "DELETE FROM sluice_ledger;",
        "UPDATE sluice_log SET payload_hash = 'forged';",
    ])
    func migrationReachingBeyondItsOwnTablesIsRefused(_ migration: String) async throws {
        let directory = TemporaryDirectory()
        let data = try await Self.victim(in: directory)
        let source = try Self.plugin("beta", in: directory, migration: migration)
        // Install replays every installed plugin's migrations of the shared database with beta's,
        // so even `DROP TABLE IF EXISTS alpha_items` meets alpha's table there.
        let refusal = #expect(throws: IsolationError.self) { try PluginCatalog(dataDirectory: data).install(from: source) }
        #expect(refusal?.plugin == "beta")
        // Dropped in by hand, past install: refused at start by the authorizer on the real file.
        try Self.dropIn(source, data: data)
        let error = try #require(refusedAtStart(data, directory: directory))
        #expect(error.plugin == "beta")
        #expect(error.place.contains("002_hostile"), "\(error)")
        #expect(try Self.alphaRows(data) == 1, "alpha's table and row are intact")
        // alpha's command, in force: its log row is its key's entry.
        let entries = try TasksDatabase.count(
            TasksDatabase.open(data.appendingPathComponent("plugins.db")),
            "SELECT count(*) FROM sluice_log WHERE length(payload_hash) = 64 AND expires_ms IS NOT NULL")
        #expect(entries == 1)
    }

    @Test func twoSharedPluginsCannotClaimTheSameTable() async throws {
        let directory = TemporaryDirectory()
        let data = try await Self.victim(in: directory)
        let source = try Self.plugin("beta", in: directory, migration: "CREATE TABLE IF NOT EXISTS alpha_items(x);")
        let refusal = #expect(throws: IsolationError.self) { try PluginCatalog(dataDirectory: data).install(from: source) }
        #expect(refusal?.reason.contains("alpha_items") == true)
        try Self.dropIn(source, data: data)
        let error = try #require(refusedAtStart(data, directory: directory))
        #expect(error.reason.contains("alpha_items"))
    }

    /// Live event topics match by prefix: a database named like another's prefix would let a
    /// subscriber granted `audit.notes` also receive `audit.notes-archive`.
    @Test func aDatabaseNameStartingWithAnothersIsRefused() throws {
        let directory = TemporaryDirectory()
        let catalog = PluginCatalog(dataDirectory: directory.path("data"))
        try catalog.install(from: try Self.plugin("notes", in: directory, mode: .exclusiveSQLite))
        let refusal = #expect(throws: ContractError.self) {
            try catalog.install(from: try Self.plugin("notes-archive", in: directory, mode: .exclusiveSQLite))
        }
        #expect(refusal?.description.contains("audit.notes-archive") == true, "\(String(describing: refusal))")
        // Shared plugins have no database of their own: no topic, no conflict.
        try catalog.install(from: try Self.plugin("notes-shared", in: directory, mode: .shared))
    }

    @Test(arguments: ["rejected", "lifecycle", "core", "audit", "plugins", "local", "anonymous"])
    func namesTheBrokerUsesAreNotPluginIDs(_ id: String) throws {
        let manifest: JSONValue = ["id": .string(id), "version": "1.0.0", "capabilities": [], "database": ["mode": "exclusive-sqlite"]]
        #expect(throws: PluginManifest.Invalid.self) { try PluginManifest(json: manifest) }
    }

    /// A plugin's own tables, its own reads and the introspection PRAGMAs stay allowed.
    @Test func wellBehavedPluginKeepsFullUseOfItsOwnTables() async throws {
        let directory = TemporaryDirectory()
        let data = try await Self.victim(in: directory)
        try PluginCatalog(dataDirectory: data).install(
            from: try Self.plugin(
                "beta", in: directory, mode: .exclusiveSQLite,
                statement:
                    "INSERT INTO beta_items(id, title, created_at, created_by) SELECT :_id, :title || count(*), :_now, :_actor FROM beta_items RETURNING title",
                migration: "CREATE INDEX beta_by_title ON beta_items(title); CREATE VIEW beta_titles AS SELECT title FROM beta_items;"
            ))
        let broker = try RunningBroker(directory: directory)
        let client = try PluginTests.client(broker, as: "beta")
        defer { client.close() }
        let ack = try await client.send("beta.item.create@v1", ["title": "n"], idempotencyKey: "b1")
        #expect(ack.result["rows"]?.arrayValue?.first?["title"] == "n0")
    }
}
