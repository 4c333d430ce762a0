public import Foundation
public import GRDB
import Logging
public import SluiceBroker
public import SluiceClient
public import SluiceZMQ

/// An in-process broker on its own temp data directory, serving the shipped tasks contracts.
public final class RunningBroker: Sendable {
    public let directory: TemporaryDirectory
    public let broker: Broker

    public init(
        directory: TemporaryDirectory = TemporaryDirectory(), configure: (inout BrokerConfiguration) -> Void = { _ in }
    ) throws {
        self.directory = directory
        var configuration = BrokerConfiguration(dataDirectory: directory.path("data"))
        configuration.contractDirectories = [Fixtures.tasksContracts]
        configuration.heartbeatIntervalMs = 200
        configure(&configuration)
        var logger = Logger(label: "sluice.test-broker")
        logger.logLevel = .warning
        broker = try Broker(configuration: configuration, logger: logger)
        try broker.start()
    }

    public var commandEndpoint: String { broker.configuration.commandEndpoint }
    public var eventEndpoint: String { broker.configuration.eventEndpoint }

    public func client(attemptTimeout: Duration = .seconds(10), maxAttempts: Int = 3) throws -> SluiceClient {
        var configuration = ClientConfiguration(
            endpoint: commandEndpoint, eventEndpoint: eventEndpoint, credentials: try operatorCredentials()
        )
        configuration.attemptTimeout = attemptTimeout
        configuration.maxAttempts = maxAttempts
        return try SluiceClient(configuration: configuration)
    }

    /// `local`'s credentials for this broker.
    public func operatorCredentials() throws -> ClientCredentials {
        try ClientCredentials.operator(dataDirectory: broker.configuration.dataDirectory)
    }

    /// A hand-made socket to this broker's request endpoint, authenticated as `local`.
    public func socket(_ type: ZMQSocket.SocketType, receiveTimeoutMs: Int32 = 10_000) throws -> RawSocket {
        try RawSocket(
            type, endpoint: commandEndpoint, credentials: operatorCredentials(), receiveTimeoutMs: receiveTimeoutMs)
    }

    /// A SUB socket on this broker's event endpoint, authenticated as `credentials` (the operator
    /// by default), subscribed to `topics`.
    public func subscriber(
        _ topics: [String], credentials: ClientCredentials? = nil, receiveTimeoutMs: Int32 = 10_000
    ) throws -> RawSocket {
        let socket = try RawSocket(
            .sub, endpoint: eventEndpoint, credentials: credentials ?? operatorCredentials(),
            receiveTimeoutMs: receiveTimeoutMs)
        for topic in topics { try socket.socket.subscribe(topic) }
        return socket
    }

    /// The operator's subscriber to `audit.rejected` (and `hb`), known to be connected: it has
    /// seen a heartbeat. Refusals are published after they are stored, so a test waits for them
    /// here instead of polling `audit.db`.
    public func rejectionWatcher() throws -> RawSocket {
        let watcher = try subscriber(["audit.rejected", "hb"])
        while let frames = try watcher.receive(), frames.first != Array("hb".utf8) {}
        return watcher
    }

    /// A read-only view of a database file, to check what the broker wrote.
    public func open(_ database: String = "tasks") throws -> DatabaseQueue {
        try TasksDatabase.open(broker.configuration.dataDirectory.appendingPathComponent("\(database).db"))
    }

    /// Starts a broker on `directory` (creating its data directory, databases and tokens) and
    /// stops it again, for tests about what a broker leaves on disk.
    public static func stopAfterStart(_ directory: TemporaryDirectory) {
        let broker = try? RunningBroker(directory: directory)
        broker?.stop()
    }

    public func stop() {
        broker.shutdown()
        broker.wait()
    }

    deinit { stop() }
}

/// Opening and checking a broker's database file from a test.
public enum TasksDatabase {
    public static func open(_ url: URL) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: url.path, configuration: configuration)
    }

    /// Seqs of the command log in order.
    public static func logSeqs(_ queue: DatabaseQueue) throws -> [Int64] {
        try queue.read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM sluice_log ORDER BY seq") }
    }

    public static func count(_ queue: DatabaseQueue, _ sql: String, _ arguments: StatementArguments = []) throws -> Int
    {
        try queue.read { db in try Int.fetchOne(db, sql: sql, arguments: arguments) ?? -1 }
    }

    public static func integrity(_ queue: DatabaseQueue) throws -> String {
        try queue.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }
}
