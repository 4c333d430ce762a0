import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// The `sluice` executable's operator commands, run as a person would run them.
@Suite(.serialized, .timeLimit(.minutes(2))) struct CommandLineTests {
    func sluice(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Fixtures.run("sluice", arguments)
    }

    @Test func doctorPassesAHealthyDirectoryAndFailsOnAnOrphan() throws {
        let directory = TemporaryDirectory()
        RunningBroker.stopAfterStart(directory)
        let data = directory.path("data").path
        let contracts = Fixtures.tasksContracts.path
        let healthy = try sluice(["doctor", "--data-dir", data, "--contracts", contracts])
        #expect(healthy.status == 0, "\(healthy.output)")
        #expect(healthy.output.contains("tasks.db: integrity ok"))

        try FileManager.default.createDirectory(atPath: data + "/plugins", withIntermediateDirectories: true)
        try DatabaseQueue(path: data + "/plugins/ghost.db").write { try $0.execute(sql: "CREATE TABLE t(x)") }
        let orphaned = try sluice(["doctor", "--data-dir", data, "--contracts", contracts])
        #expect(orphaned.status == 1)
        #expect(orphaned.output.contains("plugins/ghost.db belongs to no contract set or installed plugin"))

        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: data)
        #expect(try sluice(["doctor", "--data-dir", data, "--contracts", contracts]).output.contains("chmod 700"))
    }

    @Test func contractsCheckTellsGoodFromBad() throws {
        let good = Fixtures.tasksContracts.appendingPathComponent("contracts/task.create.v1.json").path
        #expect(try sluice(["contracts", "check", good]).status == 0)
        let directory = TemporaryDirectory()
        let bad = directory.path("bad.json")
        try
            #"{"name": "x.y", "version": "v1", "kind": "command", "database": "things", "statements": ["SELECT :_secret"]}"#
            .write(to: bad, atomically: true, encoding: .utf8)
        let result = try sluice(["contracts", "check", bad.path])
        #expect(result.status == 1)
        #expect(result.output.contains(":_secret"))
    }

    /// `sluice send` with a wrong token says so and exits 3 (not 2, "timed out, may have run").
    @Test func sendWithRefusedCredentialsSaysSoAndExitsThree() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")
        let token = directory.path("wrong.token")
        try "0000\n".write(to: token, atomically: true, encoding: .utf8)
        let refused = try sluice([
            "send", "task.create@v1", #"{"title": "x"}"#, "--key", "k", "--data-dir", data.path, "--token-file",
            token.path,
        ])
        #expect(refused.status == 3, "\(refused.output)")
        #expect(refused.output.contains("credentials_refused"), "\(refused.output)")
        let accepted = try sluice(["send", "task.create@v1", #"{"title": "x"}"#, "--key", "k", "--data-dir", data.path])
        #expect(accepted.status == 0, "\(accepted.output)")
        #expect(accepted.output.contains(#""duplicate":false"#), "nothing ran before: \(accepted.output)")
    }

    /// `sluice plugins rotate-token`: the old token is refused from the next connection, the new
    /// one works, while the broker keeps serving.
    @Test func rotateTokenRefusesTheOldTokenOnTheNextConnection() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginScaffold.create(id: "alpha", mode: .exclusiveSQLite, in: directory.path("sources")))
        let broker = try RunningBroker(directory: directory)
        defer { broker.stop() }
        let tokens = TokenStore(dataDirectory: data)
        let old = try #require(tokens.token(for: "alpha"))
        func client(_ token: String) throws -> SluiceClient {
            var configuration = ClientConfiguration(
                endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "alpha", token: token))
            configuration.attemptTimeout = .seconds(10)
            return try SluiceClient(configuration: configuration)
        }
        let before = try client(old)
        defer { before.close() }
        _ = try await before.send("alpha.item.create@v1", ["title": "before"], idempotencyKey: "b")

        let rotated = try sluice(["plugins", "rotate-token", "alpha", "--data-dir", data.path])
        #expect(rotated.status == 0, "\(rotated.output)")
        let new = try #require(tokens.token(for: "alpha"))
        #expect(new != old)
        // The connection made with the old token, still open, is refused from its next request on.
        do {
            _ = try await before.send("alpha.item.create@v1", ["title": "still open"], idempotencyKey: "c")
            Issue.record("a connection of the old token was served after the rotation")
        } catch let error as WireError {
            #expect(error.code == .unauthenticated)
        }

        let stale = try client(old)
        defer { stale.close() }
        do {
            try await stale.ping()
            Issue.record("the old token was accepted after the rotation")
        } catch let error as SluiceClientError {
            #expect(error.code == .credentialsRefused)
        }
        let fresh = try client(new)
        defer { fresh.close() }
        _ = try await fresh.send("alpha.item.create@v1", ["title": "after"], idempotencyKey: "a")
        let unknown = try sluice(["plugins", "rotate-token", "nobody", "--data-dir", data.path])
        #expect(unknown.status != 0 && unknown.output.contains("no token"))
    }

    /// The subcommands a `--help` lists (the first word of each line under a "SUBCOMMANDS:" heading).
    static func subcommands(inHelp help: String) -> [String] {
        var names: [String] = []
        var inSection = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("SUBCOMMANDS:") {
                inSection = true
                continue
            }
            if line.isEmpty || !line.hasPrefix(" ") {
                inSection = inSection && line.isEmpty ? true : false
                continue
            }
            if inSection, line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first {
                names.append(String(name))
            }
        }
        // Command names are lowercase words ("See 'sluice help …'" is not one).
        return names.filter { name in
            name != "help" && name.allSatisfy { ($0 >= "a" && $0 <= "z") || $0 == "-" }
        }
    }

    /// Every command a person can type: `--help` explains it (exit 0), and a wrong option is
    /// refused with the usage and an error, without running anything.
    /// `sluice serve --config FILE`: the file says where and how (paths relative to it); an option
    /// on the command line wins; a key the broker does not know is refused by name.
    @Test func serveTakesItsSettingsFromAConfigurationFile() throws {
        let directory = TemporaryDirectory()
        let etc = directory.path("etc")
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true)
        let config = etc.appendingPathComponent("sluice.json")
        let contracts = Fixtures.tasksContracts.path
        try #"""
            {"data_dir": "../state", "contracts": ["\#(contracts)"], "endpoint": "ipc://../state/requests.sock",
             "events_endpoint": "ipc://../state/events.sock", "log_level": "warning", "max_batch": 16}
            """#.write(to: config, atomically: true, encoding: .utf8)
        let data = directory.path("state")
        let broker = try BrokerProcess(
            dataDirectory: data,
            endpoints: ("ipc://" + data.appendingPathComponent("requests.sock").path, "ipc://" + data.appendingPathComponent("events.sock").path),
            configFile: config)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")
        let sent = try sluice(["send", "task.create@v1", #"{"title": "configured"}"#, "--endpoint", broker.commandEndpoint, "--data-dir", data.path])
        #expect(sent.status == 0, "\(sent.output)")
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("tasks.db").path))
        #expect(broker.terminate() == 0)

        // The command line wins over the file.
        let other = "ipc://" + data.appendingPathComponent("other.sock").path
        let overridden = try BrokerProcess(
            dataDirectory: data, endpoints: (other, "ipc://" + data.appendingPathComponent("events.sock").path),
            configFile: config, extraArguments: ["--endpoint", other])
        defer { _ = overridden.terminate() }
        #expect(try overridden.waitUntilServing(), "\(overridden.output)")
        #expect(overridden.terminate() == 0)

        try #"{"data_dir": "../state", "port": 5555}"#.write(to: config, atomically: true, encoding: .utf8)
        let refused = try sluice(["serve", "--config", config.path])
        #expect(refused.status == 2)
        #expect(refused.output.contains("'port' is not a configuration key"), "\(refused.output)")
    }

    @Test func everySubcommandHasHelpAndRefusesAWrongOption() throws {
        let top = try sluice(["--help"])
        #expect(top.status == 0)
        for group in ["BROKER", "CLIENT", "HISTORY AND RECOVERY", "PLUGINS, IDENTITIES AND CONTRACTS", "CHECK", "MEASUREMENT"] {
            #expect(top.output.contains("\(group) SUBCOMMANDS:"), "\(top.output)")
        }
        var paths = Self.subcommands(inHelp: top.output).map { [$0] }
        #expect(paths.count >= 20, "\(paths)")
        var checked = 0
        while let path = paths.popLast() {
            let help = try sluice(path + ["--help"])
            #expect(help.status == 0, "sluice \(path.joined(separator: " ")) --help: \(help.output)")
            // `sluice bench …` runs the benchmarks' own executable, which says its own name.
            let usage = path.first == "bench" ? (["sluice-bench"] + path.dropFirst()) : ["sluice"] + path
            #expect(help.output.contains("USAGE: \(usage.joined(separator: " "))"), "\(help.output)")
            paths += Self.subcommands(inHelp: help.output).map { path + [$0] }
            let wrong = try sluice(path + ["--no-such-option"])
            #expect(wrong.status == 2, "sluice \(path.joined(separator: " ")) --no-such-option: \(wrong.status)")
            #expect(wrong.output.contains("Error:"), "\(wrong.output)")
            #expect(wrong.output.contains("Usage:"), "\(wrong.output)")
            checked += 1
        }
        #expect(checked >= 35, "only \(checked) commands found")
    }

    /// Commands that print a table print JSON objects (one per row, keyed like the columns) with `--json`.
    @Test func tablesAreAlsoJSON() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginScaffold.create(id: "alpha", mode: .shared, in: directory.path("sources")))
        let plugins = try sluice(["plugins", "list", "--json", "--data-dir", data.path])
        #expect(plugins.status == 0, "\(plugins.output)")
        let listed = try JSONValue(parsing: plugins.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(listed["plugin"] == "alpha")
        #expect(listed["database"] == "shared")
        let capabilities = try sluice(
            ["capabilities", "--json", "--plugin", "alpha", "--data-dir", data.path, "--contracts", Fixtures.tasksContracts.path])
        #expect(capabilities.status == 0, "\(capabilities.output)")
        let row = try JSONValue(parsing: capabilities.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(row["identity"] == "alpha")
        #expect(row["capability"] == "data:alpha:create")
        #expect(row["contracts"] == "alpha.item.create@v1")

        // doctor: one {"level", "message"} object per check; a problem still exits 1.
        let broker = try RunningBroker(directory: directory)
        broker.stop()
        let doctor = try sluice(
            ["doctor", "--json", "--data-dir", data.path, "--contracts", Fixtures.tasksContracts.path])
        let checks = doctor.output.split(separator: "\n").map { try? JSONValue(parsing: String($0)) }
        #expect(!checks.isEmpty && checks.allSatisfy { $0?["level"]?.stringValue != nil && $0?["message"] != nil })
        #expect(checks.contains { $0?["message"] == "tasks.db: integrity ok" }, "\(doctor.output)")
        #expect(doctor.status == (checks.contains { $0?["level"] == "problem" } ? 1 : 0), "\(doctor.output)")
    }
}
