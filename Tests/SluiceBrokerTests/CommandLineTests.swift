import Foundation
import GRDB
import SluiceTestSupport
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
}
