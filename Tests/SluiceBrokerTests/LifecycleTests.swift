import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// Plugins come and go on a running broker: install, upgrade (older contract versions kept while
/// clients move), retire, disable, enable, rotate-token and remove --purge take effect at once,
/// through the CLI as an operator types it, while another plugin keeps sending commands on its
/// open connection. Every step is an event on `audit.lifecycle`.
@Suite(.timeLimit(.minutes(3))) struct LifecycleTests {
    static func client(_ broker: RunningBroker, as name: String) throws -> SluiceClient {
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: name))
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: name, token: token))
        configuration.attemptTimeout = .seconds(20)
        configuration.maxAttempts = 1
        return try SluiceClient(configuration: configuration)
    }

    static func sluice(_ arguments: [String], data: URL) throws -> (status: Int32, output: String) {
        try Fixtures.run("sluice", ["plugins"] + arguments + ["--data-dir", data.path])
    }

    static func schema(_ name: String) throws -> InputSchema {
        let url = Fixtures.repositoryRoot.appendingPathComponent("schemas/protocol/\(name).schema.json")
        return try InputSchema(try JSONValue(parsing: Array(try Data(contentsOf: url))))
    }

    /// The next `audit.lifecycle` record (skipping heartbeats).
    static func nextChange(_ watcher: RawSocket) throws -> JSONValue? {
        while let frames = try watcher.receive() {
            let event = try Event(frames: frames)
            if event.topic == Topic.lifecycle { return event.body }
        }
        return nil
    }

    /// Version 2.0.0 of plugin `alpha`: a column more, `alpha.item.create@v2` instead of @v1.
    static func alphaV2(in directory: TemporaryDirectory, v1: URL) throws -> URL {
        let folder = directory.path("alpha-2")
        try FileManager.default.copyItem(at: v1, to: folder)
        let manifestURL = folder.appendingPathComponent("plugin.json")
        var manifest = try JSONValue(parsing: Array(try Data(contentsOf: manifestURL))).objectValue ?? [:]
        manifest["version"] = "2.0.0"
        manifest["contracts"] = ["alpha.item.create@v2"]
        try JSONValue.object(manifest).canonicalString.write(to: manifestURL, atomically: true, encoding: .utf8)
        let v1Contract = folder.appendingPathComponent("contracts/alpha.item.create.v1.json")
        var contract = try JSONValue(parsing: Array(try Data(contentsOf: v1Contract))).objectValue ?? [:]
        try FileManager.default.removeItem(at: v1Contract)
        contract["version"] = "v2"
        contract["input"] = [
            "type": "object", "required": ["title"], "additionalProperties": false,
            "properties": ["title": ["type": "string"], "priority": ["type": "integer"]],
        ]
        contract["statements"] = [
            "INSERT INTO alpha_items(id, title, created_at, created_by, priority) VALUES (:_id, :title, :_now, :_actor, coalesce(:priority, 0)) RETURNING id"
        ]
        try JSONValue.object(contract).canonicalString.write(
            to: folder.appendingPathComponent("contracts/alpha.item.create.v2.json"), atomically: true, encoding: .utf8)
        try "ALTER TABLE alpha_items ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;\n".write(
            to: folder.appendingPathComponent("migrations/002_priority.sql"), atomically: true, encoding: .utf8)
        return folder
    }

    @Test func pluginsComeAndGoWhileAnotherPluginKeepsWorking() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        // beta (shared database) is installed before the start and stays connected throughout.
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginScaffold.create(id: "beta", mode: .shared, in: directory.path("sources")))
        let broker = try RunningBroker(directory: directory)
        defer { broker.stop() }
        let watcher = try broker.subscriber([Topic.lifecycle, "hb"])
        while let frames = try watcher.receive(), frames.first != Array("hb".utf8) {}  // subscribed
        let beta = try Self.client(broker, as: "beta")
        defer { beta.close() }
        let steady = Task {
            var acknowledged = 0
            for index in 0..<300 {
                _ = try await beta.send("beta.item.create@v1", ["title": .string("steady \(index)")])
                acknowledged += 1
            }
            return acknowledged
        }

        // Install: served at once, with its own database.
        let alphaV1 = try PluginScaffold.create(id: "alpha", mode: .exclusiveSQLite, in: directory.path("sources"))
        let install = try Self.sluice(["install", alphaV1.path], data: data)
        #expect(install.status == 0, "\(install.output)")
        #expect(install.output.contains("installed alpha 0.1.0 (the broker serves the change)"), "\(install.output)")
        let installed = try #require(try Self.nextChange(watcher))
        #expect(try Self.schema("lifecycle-change").violations(of: installed) == [])
        #expect(installed["action"] == "installed")
        #expect(installed["plugin"] == "alpha")
        #expect(installed["actor"] == "local")
        let alpha = try Self.client(broker, as: "alpha")
        defer { alpha.close() }
        #expect(try await alpha.send("alpha.item.create@v1", ["title": "first"]).seq == 1)
        let again = try Self.sluice(["install", alphaV1.path], data: data)
        #expect(again.status != 0 && again.output.contains("sluice plugins upgrade"), "\(again.output)")

        // Upgrade on the same connection: the new migration ran, v2 is served, v1 still is.
        let upgrade = try Self.sluice(["upgrade", try Self.alphaV2(in: directory, v1: alphaV1).path], data: data)
        #expect(upgrade.status == 0, "\(upgrade.output)")
        let upgraded = try #require(try Self.nextChange(watcher))
        #expect(upgraded["action"] == "upgraded")
        #expect(upgraded["previous_version"] == "0.1.0")
        #expect(upgraded["version"] == "2.0.0")
        #expect(try await alpha.send("alpha.item.create@v2", ["title": "second", "priority": 3]).seq == 2)
        #expect(try await alpha.send("alpha.item.create@v1", ["title": "old client"]).seq == 3)
        let rows = try await broker.open("plugins/alpha").read { db in
            try Row.fetchAll(db, sql: "SELECT title, priority FROM alpha_items ORDER BY title")
        }
        #expect(rows.map { $0["priority"] as Int } == [0, 0, 3])

        // Retire v1: no longer served.
        let retire = try Self.sluice(["retire", "alpha", "alpha.item.create@v1"], data: data)
        #expect(retire.status == 0, "\(retire.output)")
        let retired = try #require(try Self.nextChange(watcher))
        #expect(retired["action"] == "retired")
        #expect(retired["contracts"] == ["alpha.item.create@v1"])
        #expect(try Self.schema("lifecycle-change").violations(of: retired) == [])
        await #expect(throws: WireError.self) { try await alpha.send("alpha.item.create@v1", ["title": "too late"]) }

        // Disable: refused at its next connection, nothing served on the open one; enable: back.
        #expect(try Self.sluice(["disable", "alpha"], data: data).status == 0)
        #expect(try #require(try Self.nextChange(watcher))["action"] == "disabled")
        do {
            _ = try await alpha.send("alpha.item.create@v2", ["title": "while disabled"])
            Issue.record("a disabled plugin's command was run")
        } catch let error as WireError {
            #expect(error.code == .unauthenticated, "\(error)")
        }
        let refused = try Self.client(broker, as: "alpha")
        defer { refused.close() }
        await #expect(throws: (any Error).self) { try await refused.send("alpha.item.create@v2", ["title": "x"]) }
        #expect(try Self.sluice(["enable", "alpha"], data: data).status == 0)
        #expect(try #require(try Self.nextChange(watcher))["action"] == "enabled")
        let enabled = try Self.client(broker, as: "alpha")
        defer { enabled.close() }
        #expect(try await enabled.send("alpha.item.create@v2", ["title": "enabled"]).seq == 4)

        // Rotate its token: audited.
        #expect(try Self.sluice(["rotate-token", "alpha"], data: data).status == 0)
        #expect(try #require(try Self.nextChange(watcher))["action"] == "token_rotated")

        // Remove with --purge: its identity and its data are gone.
        let remove = try Self.sluice(["remove", "alpha", "--purge"], data: data)
        #expect(remove.status == 0, "\(remove.output)")
        let removed = try #require(try Self.nextChange(watcher))
        #expect(removed["action"] == "removed")
        #expect(removed["purged"] == true)
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("plugins/alpha.db").path))
        // The heartbeat still knows every stream after the reloads: the lifecycle's, at its newest seq.
        var heartbeat: Event?
        while heartbeat == nil, let frames = try watcher.receive() {
            let event = try Event(frames: frames)
            if event.topic == "hb" { heartbeat = event }
        }
        #expect(heartbeat?.body["streams"]?["lifecycle"]?["seq"] == removed["seq"])
        #expect(heartbeat?.body["streams"]?["rejected"] != nil)
        #expect(heartbeat?.body["streams"]?["alpha"] == nil)
        #expect(TokenStore(dataDirectory: data).token(for: "alpha") == nil)

        // beta never noticed: every command acknowledged once, in order.
        #expect(try await steady.value == 300)
        let count = try await broker.open("plugins").read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM beta_items") }
        #expect(count == 300)

        // A RELOAD with nothing changed on disk: no change, the body as its schema says.
        let reloader = try broker.client()
        defer { reloader.close() }
        let unchanged = try await reloader.reload()
        #expect(try Self.schema("reloaded-body").violations(of: unchanged) == [])
        #expect(unchanged["changes"] == [])
        #expect(unchanged["plugins"]?["beta"]?["disabled"] == false)
        #expect(try Self.schema("reload-request-body").violations(of: ["action": "remove", "plugin": "alpha", "purge": true]) == [])

        // audit.lifecycle is stored: SYNC gives the same seven records.
        let operatorClient = try broker.client()
        defer { operatorClient.close() }
        let page = try await operatorClient.sync(topic: Topic.lifecycle, fromSeq: 1)
        #expect(
            page.events.map { $0.body["action"] }
                == ["installed", "upgraded", "retired", "disabled", "enabled", "token_rotated", "removed"])
    }

    /// A plugin the broker cannot serve (its migration fails on the data) is refused by the
    /// running broker, which goes on serving the version before; the CLI puts that version back.
    @Test func anUpgradeTheBrokerCannotServeIsUndone() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let v1 = try PluginScaffold.create(id: "alpha", mode: .exclusiveSQLite, in: directory.path("sources"))
        try PluginCatalog(dataDirectory: data).install(from: v1)
        let broker = try RunningBroker(directory: directory)
        defer { broker.stop() }
        let alpha = try Self.client(broker, as: "alpha")
        defer { alpha.close() }
        _ = try await alpha.send("alpha.item.create@v1", ["title": "same"])
        _ = try await alpha.send("alpha.item.create@v1", ["title": "same"])
        // Version 2 makes titles unique: valid alone, impossible on this data.
        let v2 = try Self.alphaV2(in: directory, v1: v1)
        try "CREATE UNIQUE INDEX alpha_titles ON alpha_items(title);\n".write(
            to: v2.appendingPathComponent("migrations/003_unique.sql"), atomically: true, encoding: .utf8)
        let upgrade = try Self.sluice(["upgrade", v2.path], data: data)
        #expect(upgrade.status == 1, "\(upgrade.output)")
        #expect(upgrade.output.contains("the broker refused"), "\(upgrade.output)")
        #expect(PluginCatalog(dataDirectory: data).manifest(of: "alpha")?.version == "0.1.0")
        // Still served as before, on the same connection.
        #expect(try await alpha.send("alpha.item.create@v1", ["title": "after"]).seq == 3)
    }

    /// Removing a shared plugin with --purge drops what its migrations made in plugins.db and
    /// nothing of its neighbour's; installed again, it starts empty.
    @Test func purgingASharedPluginLeavesItsNeighbourAlone() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let sources = directory.path("sources")
        let gammaSource = try PluginScaffold.create(id: "gamma", mode: .shared, in: sources)
        try PluginCatalog(dataDirectory: data).install(from: try PluginScaffold.create(id: "beta", mode: .shared, in: sources))
        try PluginCatalog(dataDirectory: data).install(from: gammaSource)
        let broker = try RunningBroker(directory: directory)
        defer { broker.stop() }
        let beta = try Self.client(broker, as: "beta")
        defer { beta.close() }
        let gamma = try Self.client(broker, as: "gamma")
        defer { gamma.close() }
        _ = try await beta.send("beta.item.create@v1", ["title": "stays"])
        _ = try await gamma.send("gamma.item.create@v1", ["title": "goes"])

        let remove = try Self.sluice(["remove", "gamma", "--purge"], data: data)
        #expect(remove.status == 0, "\(remove.output)")
        let tables = try await broker.open("plugins").read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%_items' ORDER BY name")
        }
        #expect(tables == ["beta_items"])
        _ = try await beta.send("beta.item.create@v1", ["title": "still"])

        let reinstall = try Self.sluice(["install", gammaSource.path], data: data)
        #expect(reinstall.status == 0, "\(reinstall.output)")
        let again = try Self.client(broker, as: "gamma")
        defer { again.close() }
        _ = try await again.send("gamma.item.create@v1", ["title": "anew"])
        let rows = try await broker.open("plugins").read { db in
            try String.fetchAll(db, sql: "SELECT title FROM gamma_items")
        }
        #expect(rows == ["anew"])
    }
}
