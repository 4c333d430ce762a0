import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Ephemeral mode: a client pointed at a data directory with no broker starts one in the
/// background; racing clients get one broker; it exits when idle; a dead one is taken over.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EphemeralTests {
    /// The pid in `broker.lock` (written by the broker holding it).
    static func brokerPID(_ data: URL) throws -> Int32 {
        let text = try String(contentsOf: data.appendingPathComponent("broker.lock"), encoding: .utf8)
        return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// Blocks until no process holds `broker.lock`: the broker has exited (the kernel drops its
    /// lock when it does). A lock, not a sleep.
    static func waitForBrokerExit(_ data: URL) {
        let descriptor = open(data.appendingPathComponent("broker.lock").path, O_RDONLY | O_CLOEXEC)
        defer { close(descriptor) }
        while flock(descriptor, LOCK_SH) != 0 && errno == EINTR {}
        flock(descriptor, LOCK_UN)
    }

    /// `sluice serve` processes serving `data` (by their command lines).
    static func servingProcesses(_ data: URL) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry) else { return nil }
            let bytes = OpenFileHolders.readProcFile("/proc/\(entry)/cmdline")
            let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains("serve") && arguments.contains(data.path) ? pid : nil
        }
    }

    static func autoStart(_ data: URL, idleExit: Duration) -> BrokerAutoStart {
        BrokerAutoStart(
            executable: Fixtures.sluiceExecutable, dataDirectory: data, contracts: [Fixtures.tasksContracts],
            idleExit: idleExit, extraArguments: ["--log-level", "warning"])
    }

    @Test func eightProcessesRacingToStartGetOneBrokerAndAllAreServed() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let senders = try (0..<8).map { index in
            try ChildProcess(
                Fixtures.sluiceExecutable,
                [
                    "send", "task.create@v1", "{\"title\": \"racer \(index)\"}", "--data-dir", data.path,
                    "--contracts", Fixtures.tasksContracts.path, "--idle-exit", "60", "--timeout", "20",
                ], captureOutput: false)
        }
        let statuses = senders.map { $0.wait() }
        #expect(statuses.allSatisfy { $0 == 0 }, "\(statuses)")
        let brokers = Self.servingProcesses(data)
        #expect(brokers.count == 1, "brokers serving \(data.path): \(brokers)")
        #expect(try brokers.first == Self.brokerPID(data))
        let tasks = try TasksDatabase.count(TasksDatabase.open(data.appendingPathComponent("tasks.db")), "SELECT count(*) FROM tasks")
        #expect(tasks == 8)
        for pid in brokers { kill(pid, SIGTERM) }
        Self.waitForBrokerExit(data)
    }

    @Test func aBrokerStartedByAClientExitsOnceIdleAndNotBefore() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        // Long enough that even a slow machine connects the client before the broker could stop.
        let autoStart = Self.autoStart(data, idleExit: .seconds(1))
        var configuration = ClientConfiguration(
            endpoint: "ipc://" + data.appendingPathComponent("sluice.sock").path,
            eventEndpoint: "ipc://" + data.appendingPathComponent("events.sock").path)
        configuration.autoStart = autoStart
        #expect(!autoStart.isServing())
        // The client starts it; its credentials are the operator's, read once it serves.
        try autoStart.ensureRunning()
        configuration.credentials = try .operator(dataDirectory: data)
        let client = try SluiceClient(configuration: configuration)
        _ = try await client.send("task.create@v1", ["title": "ephemeral"], idempotencyKey: "e-1")
        // Connected but sending nothing for several idle periods, measured by the broker's own
        // heartbeats (one a second): the fourth comes at least three idle periods later.
        var heartbeats = 0
        for try await _ in client.events(topic: Topic.heartbeat) {
            heartbeats += 1
            if heartbeats == 4 { break }
        }
        #expect(autoStart.isServing(), "a broker with a connected client must not exit")
        try await client.ping()
        client.close()
        // No client, nothing pending: it exits by itself (the lock tells when).
        Self.waitForBrokerExit(data)
        #expect(!autoStart.isServing())
        let log = try String(contentsOf: data.appendingPathComponent("broker.log"), encoding: .utf8)
        #expect(!log.contains("error"), "\(log)")
    }

    @Test func aBrokerThatDiedIsTakenOverByTheNextCaller() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let autoStart = Self.autoStart(data, idleExit: .seconds(60))
        // Started by a command (so the broker is not this test process's child).
        let started = try Fixtures.run(
            "sluice", ["stats", "--data-dir", data.path, "--contracts", Fixtures.tasksContracts.path, "--idle-exit", "60"])
        #expect(started.status == 0, "\(started.output)")
        #expect(autoStart.isServing())
        let first = try Self.brokerPID(data)
        kill(first, SIGKILL)
        Self.waitForBrokerExit(data)
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("sluice.sock").path), "a stale socket file")

        let send = try Fixtures.run(
            "sluice",
            ["send", "task.create@v1", #"{"title": "after the crash"}"#, "--data-dir", data.path, "--contracts",
                Fixtures.tasksContracts.path, "--idle-exit", "60"])
        #expect(send.status == 0, "\(send.output)")
        let second = try Self.brokerPID(data)
        #expect(second != first)
        #expect(autoStart.isServing())
        // Explicit endpoints are someone else's broker: nothing is started for them.
        let elsewhere = directory.path("elsewhere")
        let refused = try Fixtures.run(
            "sluice",
            ["send", "task.create@v1", #"{"title": "x"}"#, "--data-dir", elsewhere.path, "--endpoint",
                "ipc://" + elsewhere.appendingPathComponent("sluice.sock").path, "--timeout", "0.3"])
        #expect(refused.status != 0)
        #expect(!Self.autoStart(elsewhere, idleExit: .seconds(1)).isServing())
        kill(second, SIGTERM)
        Self.waitForBrokerExit(data)
    }
}
