import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// Plugins: manifests, capabilities, per-plugin databases, storage limits.
@Suite(.timeLimit(.minutes(2))) struct PluginTests {
    /// A scaffolded plugin whose manifest is then edited by `edit`.
    static func plugin(
        _ id: String, in directory: TemporaryDirectory, mode: PluginManifest.DatabaseMode = .exclusiveSQLite,
        edit: (inout [String: JSONValue]) -> Void = { _ in }
    ) throws -> URL {
        let folder = try PluginScaffold.create(id: id, mode: mode, in: directory.path("sources"))
        let manifestURL = folder.appendingPathComponent("plugin.json")
        var manifest = try JSONValue(parsing: Array(try Data(contentsOf: manifestURL))).objectValue ?? [:]
        edit(&manifest)
        try JSONValue.object(manifest).canonicalString.write(to: manifestURL, atomically: true, encoding: .utf8)
        return folder
    }

    static func client(_ broker: RunningBroker, as name: String) throws -> SluiceClient {
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: name))
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: name, token: token))
        configuration.attemptTimeout = .seconds(10)
        return try SluiceClient(configuration: configuration)
    }

    @Test func capabilityMatrix() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let catalog = PluginCatalog(dataDirectory: data)
        try catalog.install(
            from: try Self.plugin("alpha", in: directory) {
                $0["capabilities"] = ["data:alpha:create", "data:task:create"]
            })
        try catalog.install(from: try Self.plugin("beta", in: directory, mode: .shared))
        let broker = try RunningBroker(directory: directory)
        let watcher = try broker.rejectionWatcher()

        let contracts = ["alpha.item.create@v1", "beta.item.create@v1", "task.create@v1"]
        let allowed: [String: Set<String>] = [
            "local": Set(contracts), "alpha": ["alpha.item.create@v1", "task.create@v1"],
            "beta": ["beta.item.create@v1"],
        ]
        var denials = 0
        for identity in ["local", "alpha", "beta"] {
            let client = identity == "local" ? try broker.client() : try Self.client(broker, as: identity)
            defer { client.close() }
            for contract in contracts {
                do {
                    let ack = try await client.send(contract, ["title": .string("\(identity) → \(contract)")])
                    #expect(allowed[identity]!.contains(contract), "\(identity) ran \(contract)")
                    #expect(
                        ack.db
                            == (contract.hasPrefix("alpha")
                                ? "alpha" : contract.hasPrefix("beta") ? "plugins" : "tasks"))
                } catch let error as WireError {
                    #expect(!allowed[identity]!.contains(contract), "\(identity) was refused \(contract): \(error)")
                    #expect(error.code == .capabilityDenied)
                    #expect(error.details["contract"] == .string(contract))
                    denials += 1
                }
            }
        }
        #expect(denials == 3)

        // Every denial is audited with the plugin's identity, and reached no database.
        // The auditor publishes each record after committing it: wait for three.
        var published = 0
        while published < 3, let frames = try watcher.receive() {
            if frames.first == frame(Topic.rejected) { published += 1 }
        }
        let audit = try TasksDatabase.open(data.appendingPathComponent("audit.db"))
        let records = try await audit.read { db in
            try String.fetchAll(db, sql: "SELECT record FROM rejections").map { try JSONValue(parsing: $0) }
        }
        #expect(Set(records.compactMap { $0["actor"]?.stringValue }) == ["alpha", "beta"])
        #expect(records.allSatisfy { $0["code"] == "capability_denied" })
        #expect(
            try TasksDatabase.count(
                try TasksDatabase.open(data.appendingPathComponent("plugins/alpha.db")),
                "SELECT count(*) FROM alpha_items") == 2)
        #expect(
            try TasksDatabase.count(
                try TasksDatabase.open(data.appendingPathComponent("plugins.db")), "SELECT count(*) FROM beta_items")
                == 2)
        #expect(try TasksDatabase.count(try broker.open(), "SELECT count(*) FROM tasks") == 2)
    }

    static let badManifests: [(String, @Sendable (inout [String: JSONValue]) -> Void, String)] = [
        ("path traversal id", { $0["id"] = "../../etc" }, "id"),
        ("upper-case id", { $0["id"] = "Tasks" }, "id"),
        ("unknown mode", { $0["database"] = ["mode": "cloud"] }, "database.mode"),
        ("connections without postgres", { $0["limits"] = ["connections": 4] }, "limits.connections"),
        (
            "postgres id too long",
            {
                $0["id"] = .string(String(repeating: "p", count: 49))
                $0["database"] = ["mode": "exclusive-postgres"]
            }, "id"
        ),
        ("missing version", { $0.removeValue(forKey: "version") }, "version"),
        ("missing capabilities", { $0.removeValue(forKey: "capabilities") }, "capabilities"),
        ("capability format", { $0["capabilities"] = ["DATA TASK"] }, "capabilities[0]"),
        ("unknown member", { $0["permissions"] = "all" }, "permissions"),
        ("bad limit", { $0["limits"] = ["storage_mb": -1] }, "limits.storage_mb"),
        ("listed contract missing", { $0["contracts"] = ["nowhere.to.be@v1"] }, "contracts[0]"),
    ]

    @Test(arguments: badManifests.indices)
    func badManifestsAreRefusedNamingTheFieldAndCreateNothing(_ index: Int) throws {
        let (name, edit, field) = Self.badManifests[index]
        let directory = TemporaryDirectory()
        let source = try Self.plugin("shaky", in: directory, edit: edit)
        let data = directory.path("data")
        do {
            try PluginCatalog(dataDirectory: data).install(from: source)
            Issue.record("\(name): installed")
        } catch let error as PluginManifest.Invalid {
            #expect(error.field == field, "\(name): \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: data.path), "\(name): nothing is created")
    }

    @Test func manifestThatIsNotJSONIsRefused() throws {
        let directory = TemporaryDirectory()
        let source = try Self.plugin("broken", in: directory)
        try "{ not json".write(to: source.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
        #expect(throws: PluginManifest.Invalid.self) {
            try PluginCatalog(dataDirectory: directory.path("data")).install(from: source)
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("data").path))
    }

    /// The writer binds text in place from a reused buffer (`BindingArena`): values larger than
    /// its chunk, many-byte characters and a small value right after a large one must all reach
    /// the table, the log and the ACK exactly as sent.
    @Test func textValuesOfEverySizeReachTheDatabaseExactly() async throws {
        let directory = TemporaryDirectory()
        let catalog = PluginCatalog(dataDirectory: directory.path("data"))
        let wide = try Self.plugin("wide", in: directory)
        let contract = wide.appendingPathComponent("contracts/wide.item.create.v1.json")
        let text = try String(contentsOf: contract, encoding: .utf8).replacingOccurrences(
            of: "\"maxLength\": 200", with: "\"maxLength\": 300000")
        try text.write(to: contract, atomically: true, encoding: .utf8)
        try catalog.install(from: wide)
        let broker = try RunningBroker(directory: directory)
        let client = try Self.client(broker, as: "wide")
        defer { client.close() }
        let titles = [
            String(repeating: "a", count: 70_000) + "|end", "b", String(repeating: "é😀", count: 40_000), "c",
            String(repeating: "\u{0}x\"\\", count: 5_000), "d",
        ]
        var acks: [Acknowledgement] = []
        for (index, title) in titles.enumerated() {
            acks.append(try await client.send("wide.item.create@v1", ["title": .string(title)], idempotencyKey: "wide-\(index)"))
        }
        for (ack, title) in zip(acks, titles) {
            #expect(ack.result["rows"]?.arrayValue?.first?["title"]?.stringValue == title, "ACK of seq \(ack.seq)")
        }
        let db = try TasksDatabase.open(broker.broker.configuration.dataDirectory.appendingPathComponent("plugins/wide.db"))
        // Read as bytes: GRDB's String stops at a NUL.
        let stored = try await db.read { db in
            try Data.fetchAll(db, sql: "SELECT CAST(title AS BLOB) FROM wide_items ORDER BY rowid")
        }
        #expect(stored.map { String(decoding: $0, as: UTF8.self) } == titles, "titles as stored")
        let logged = try await db.read { db in
            try Row.fetchAll(
                db, sql: "SELECT CAST(payload AS BLOB) AS payload, idempotency_key, status FROM sluice_log ORDER BY seq")
        }
        #expect(logged.count == titles.count)
        for (index, (row, title)) in zip(logged, titles).enumerated() {
            let payload = (row["payload"] as Data?).map { String(decoding: $0, as: UTF8.self) }
            #expect(payload == JSONValue.object(["title": .string(title)]).canonicalString, "payload \(index)")
            #expect(row["idempotency_key"] as String? == "wide-\(index)")
            #expect(row["status"] as String? == "ok")
        }
        // The ledger answers a retry of the largest with the stored result, unchanged.
        let again = try await client.send("wide.item.create@v1", ["title": .string(titles[2])], idempotencyKey: "wide-2")
        #expect(again.duplicate && again.result == acks[2].result)
    }

    @Test func storageLimitStopsOnePluginOnly() async throws {
        let directory = TemporaryDirectory()
        let catalog = PluginCatalog(dataDirectory: directory.path("data"))
        let big = try Self.plugin("big", in: directory) { $0["limits"] = ["storage_mb": 1] }
        // Let titles be large, so the megabyte fills quickly.
        let contract = big.appendingPathComponent("contracts/big.item.create.v1.json")
        let text = try String(contentsOf: contract, encoding: .utf8).replacingOccurrences(
            of: "\"maxLength\": 200", with: "\"maxLength\": 100000")
        try text.write(to: contract, atomically: true, encoding: .utf8)
        try catalog.install(from: big)
        try catalog.install(from: try Self.plugin("small", in: directory))
        let broker = try RunningBroker(directory: directory)
        let bigClient = try Self.client(broker, as: "big")
        let smallClient = try Self.client(broker, as: "small")
        defer {
            bigClient.close()
            smallClient.close()
        }
        var limitError: WireError?
        var accepted = 0
        for index in 0..<100 where limitError == nil {
            do {
                try await bigClient.send(
                    "big.item.create@v1", ["title": .string(String(repeating: "x", count: 50_000) + "\(index)")])
                accepted += 1
            } catch let error as WireError {
                limitError = error
            }
        }
        #expect(limitError?.code == .storageLimit)
        #expect(accepted > 0)
        let bigFile = broker.broker.configuration.dataDirectory.appendingPathComponent("plugins/big.db")
        #expect(try TasksDatabase.integrity(try TasksDatabase.open(bigFile)) == "ok")
        let size = try FileManager.default.attributesOfItem(atPath: bigFile.path)[.size] as? Int ?? .max
        #expect(size <= 1 << 20)
        #expect(
            try TasksDatabase.logSeqs(try TasksDatabase.open(bigFile)).count == accepted, "acknowledged writes stayed")
        let other = try await smallClient.send("small.item.create@v1", ["title": "still fine"])
        #expect(!other.duplicate)
    }
}
