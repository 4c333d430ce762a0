public import Foundation
import SluiceBroker
import SluiceClient
public import SluiceZMQ

/// A `sluice serve` child process, for tests about processes: crash, restart, signals.
public final class BrokerProcess: @unchecked Sendable {
    /// The `sluice serve` child (spawned with posix_spawn, reaped by a thread of its own).
    public let process: WatchedChild
    public let dataDirectory: URL
    private let log: URL

    public let commandEndpoint: String
    public let eventEndpoint: String

    /// Starts `sluice serve` on `dataDirectory`. Endpoints default to ipc sockets inside it; pass a
    /// `socketDirectory` to put them elsewhere (a filesystem that cannot hold sockets, say). With
    /// `configFile`, the broker is started with `--config` and `extraArguments` only: the file
    /// must name `dataDirectory` and the endpoints.
    public init(
        dataDirectory: URL, contracts: URL = Fixtures.tasksContracts, socketDirectory: URL? = nil,
        endpoints: (commands: String, events: String)? = nil, configFile: URL? = nil, extraArguments: [String] = []
    ) throws {
        self.dataDirectory = dataDirectory
        let sockets = socketDirectory ?? dataDirectory
        if let socketDirectory {
            try FileManager.default.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        }
        commandEndpoint = endpoints?.commands ?? "ipc://" + sockets.appendingPathComponent("sluice.sock").path
        eventEndpoint = endpoints?.events ?? "ipc://" + sockets.appendingPathComponent("events.sock").path
        // The operator token exists before the process does, so clients can connect at once.
        try TokenStore(dataDirectory: dataDirectory).ensureToken(for: TokenStore.operatorName)
        log = (socketDirectory ?? dataDirectory.deletingLastPathComponent()).appendingPathComponent(
            "broker-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let arguments =
            configFile.map { ["serve", "--config", $0.path] }
            ?? [
                "serve", "--data-dir", dataDirectory.path, "--contracts", contracts.path, "--log-level", "warning",
                "--endpoint", commandEndpoint, "--events-endpoint", eventEndpoint,
            ]
        process = try WatchedChild(
            Fixtures.sluiceExecutable, arguments + extraArguments, outputDescriptor: handle.fileDescriptor)
        try handle.close()
    }


    /// A hand-made socket to this broker's request endpoint, authenticated as `local`.
    public func socket(_ type: ZMQSocket.SocketType, receiveTimeoutMs: Int32 = 10_000) throws -> RawSocket {
        try RawSocket(
            type, endpoint: commandEndpoint, credentials: try .operator(dataDirectory: dataDirectory),
            receiveTimeoutMs: receiveTimeoutMs
        )
    }

    /// Waits (up to 10 s) until the broker answers a PING; false if it never does.
    public func waitUntilServing() throws -> Bool {
        // A DEALER, not a REQ: after an unanswered ping a REQ socket refuses to send again.
        var probe = try socket(.dealer, receiveTimeoutMs: 200)
        for _ in 0..<50 {
            // On tcp the operator's CURVE keys appear when the broker starts: read them again.
            if commandEndpoint.hasPrefix("tcp://") { probe = try socket(.dealer, receiveTimeoutMs: 200) }
            try probe.send([[], frame("SLU1"), frame("PING"), frame("{}"), frame("{}")])
            if try probe.receive() != nil { return true }
        }
        return false
    }

    /// What the broker printed so far (for failure messages).
    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// SIGKILL, if it still runs (so a cleanup path may call it after any other end).
    public func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM, then waits up to `limit` for a graceful exit. A broker still running after it is
    /// killed and -1 returned, so a shutdown bug fails its test instead of hanging the suite.
    public func terminate(limit: TimeInterval = 20) -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        guard waitForExit(limit: limit) else {
            kill9()
            return -1
        }
        return process.terminationStatus
    }

    /// Waits up to `limit` seconds for the process to end; false if it is still running.
    public func waitForExit(limit: TimeInterval) -> Bool {
        // Signalled by the thread that reaps the child: the exit itself, not a poll.
        process.waitForExit(limit: limit)
    }

    deinit {
        if process.isRunning { kill9() }
    }
}
