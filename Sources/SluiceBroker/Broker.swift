public import Foundation
import GRDB
public import Logging
import SluiceWire
public import SluiceZMQ
import Synchronization

/// A running Sluice broker: the I/O thread, one writer thread per database, the store reader and
/// the rejection auditor, sharing one ZeroMQ context.
///
/// ```swift
/// let broker = try Broker(configuration: configuration)
/// try broker.start()
/// // ...
/// broker.shutdown()   // stop admitting, commit and answer what is queued
/// broker.wait()
/// ```
public final class Broker: Sendable {
    public let configuration: BrokerConfiguration
    public let registry: ContractRegistry
    /// Identifies this broker process's lifetime; changes on every start.
    public let epoch: String
    let logger: Logger
    let databases: [String: DatabaseFile]
    let auditor: RejectionAuditorBox
    let lock: DataDirectoryLock
    let auditKey: [UInt8]
    /// What each query contract reads (for cache invalidation), checked read-only at start.
    let queryRegions: [ContractID: DatabaseRegion]
    /// What each projection reads and the seq it reflects at start.
    let projections: ProjectionStart
    /// The Swift code of `"handler": "swift"` contracts.
    let handlers: [ContractID: CommandHandler]
    /// Identities and their tokens (`<data-dir>/tokens`).
    public let tokens: TokenStore
    /// The broker's ZeroMQ context: in-process clients of ``BrokerConfiguration/inprocIdentities``
    /// connect through it (`ClientConfiguration.sharedContext`).
    public let context = ZMQContext()

    /// Counters and gauges for Prometheus (``MetricsEndpoint`` serves them), refreshed by the I/O
    /// thread at each heartbeat.
    public let metrics = BrokerMetrics()

    /// True from `start()` until a shutdown begins: the broker admits requests.
    public var isServing: Bool {
        state.withLock { $0 == .running } && !stopRequested.load(ordering: .sequentiallyConsistent)
    }

    /// The request endpoint of an in-process identity.
    public static func inprocEndpoint(for identity: String) -> String { "inproc://sluice/\(identity)" }
    let doorbell = Doorbell()
    let stopRequested = Atomic<Bool>(false)
    let stopped = DispatchSemaphore(value: 0)
    let state = Mutex<State>(.created)
    /// Handshakes the ZAP handler refused, audited by the I/O thread.
    let handshakeRefusals = HandshakeRefusals()
    /// CURVE keys for tcp endpoints (`<data-dir>/curve`).
    public let curveKeys: CurveKeyStore
    /// The broker's CURVE key pair, when an endpoint is tcp (clients need its public key).
    public let curveKeyPair: ZMQCurve.KeyPair?

    enum State { case created, running, stopped }

    /// Opens the data directory (created 0700 if missing), takes its lock, loads the contracts and
    /// runs pending migrations. Throws with the file and reason when anything is wrong.
    public init(configuration: BrokerConfiguration, logger: Logger = Logger(label: "sluice.broker")) throws {
        self.configuration = configuration
        self.logger = logger
        SQLiteProcess.prepare()
        try DurableFile.createDirectory(configuration.dataDirectory)
        try configuration.sharedSockets?.prepareDirectory(dataDirectory: configuration.dataDirectory)
        lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        auditKey = try AuditKey.loadOrCreate(in: configuration.dataDirectory)
        tokens = TokenStore(dataDirectory: configuration.dataDirectory)
        try tokens.ensureToken(for: TokenStore.operatorName)
        for identity in configuration.inprocIdentities where !TokenStore.isValidName(identity) {
            throw BrokerStateError(message: "inproc identity '\(identity)' is not an identity name")
        }
        curveKeys = CurveKeyStore(dataDirectory: configuration.dataDirectory)
        if configuration.usesCurve {
            guard ZMQCurve.isAvailable else {
                throw BrokerStateError(message: "this libzmq has no CURVE support; tcp endpoints need it")
            }
            curveKeyPair = try curveKeys.brokerKeyPair()
            try curveKeys.operatorKeyPair()
        } else {
            curveKeyPair = nil
        }
        if configuration.insecureTCP {
            logger.warning(
                "--insecure-tcp: tcp endpoints are served without encryption or authentication; every tcp connection is 'anonymous' and may only HELLO and PING")
        }
        var registry = try ContractRegistry(directories: configuration.contractDirectories)
        try registry.loadInstalledPlugins(dataDirectory: configuration.dataDirectory)
        try registry.checkEventTopics()
        try registry.checkProjections()
        self.registry = registry
        try PluginCatalog(dataDirectory: configuration.dataDirectory, synchronous: configuration.synchronous)
            .recordContracts(registry)
        let isolation = try PluginIsolation(registry: registry)
        var databases: [String: DatabaseFile] = [:]
        for name in registry.databases {
            databases[name] = try DatabaseFile(
                name: name, directory: configuration.dataDirectory, file: registry.file(of: name),
                migrations: registry.migrations[name] ?? [],
                synchronous: configuration.synchronous,
                ledgerRetentionMs: configuration.ledgerRetention.components.seconds * 1000
                    + configuration.ledgerRetention.components.attoseconds / 1_000_000_000_000_000,
                maxBytes: registry.storageLimit(of: name),
                isolation: isolation.rules(for: name, in: registry)
            )
        }
        self.databases = databases
        handlers = try CommandWriter.handlers(configuration.commandHandlers, of: registry)
        projections = try ProjectionStart(Array(registry.projections.values), databases: databases, logger: logger)
        queryRegions = try QueryCheck.regions(of: registry, in: databases)
        auditor = RejectionAuditorBox(
            try RejectionAuditor(
                directory: configuration.dataDirectory, synchronous: configuration.synchronous,
                retention: configuration.rejectionRetention, logger: logger))
        epoch = UUID().uuidString.lowercased()
    }

    /// Starts every thread and binds the endpoints; returns once the broker is serving.
    public func start() throws {
        try state.withLock { state in
            guard state == .created else { throw BrokerStateError(message: "a broker starts once") }
            state = .running
        }
        try startAuthenticator()
        for (name, database) in databases {
            try startThread(name: "sluice-writer-\(name)", inbox: CommandWriter.inboxEndpoint(name)) {
                [configuration, auditKey, registry, databases, handlers, logger] context, inbox in
                do {
                    let writer = try CommandWriter(
                        database: database, maxBatchSize: configuration.maxBatchSize,
                        idleCheckpointMs: configuration.idleCheckpointMs, auditKey: auditKey, registry: registry,
                        projectionSources: databases, handlers: handlers, logger: logger
                    )
                    writer.run(context: context, inbox: inbox, noticeEndpoint: BrokerIOLoop.noticeEndpoint)
                } catch {
                    logger.critical("writer could not start", metadata: ["db": "\(name)", "error": "\(error)"])
                }
            }
        }
        for index in 0..<configuration.queryReaderThreads {
            try startThread(name: "sluice-query-reader-\(index)", inbox: QueryReader.inboxEndpoint(index)) {
                [databases, logger] context, inbox in
                QueryReader(index: index, databases: databases, logger: logger).run(
                    context: context, inbox: inbox, noticeEndpoint: BrokerIOLoop.noticeEndpoint
                )
            }
        }
        let auditDatabase = configuration.dataDirectory.appendingPathComponent("audit.db")
        let auditEpoch = auditor.peek.epoch
        try startThread(name: "sluice-store-reader", inbox: StoreReader.inboxEndpoint) {
            [databases, registry, auditKey, logger] context, inbox in
            StoreReader(
                databases: databases, registry: registry, auditKey: auditKey, auditDatabase: auditDatabase,
                auditEpoch: auditEpoch, logger: logger
            ).run(
                context: context, inbox: inbox, noticeEndpoint: BrokerIOLoop.noticeEndpoint
            )
        }
        try startThread(name: "sluice-auditor", inbox: RejectionAuditor.inboxEndpoint) { [auditor] context, inbox in
            auditor.take().run(context: context, inbox: inbox, noticeEndpoint: BrokerIOLoop.noticeEndpoint)
        }
        var streams: [String: (seq: Int64, epoch: String)] = [:]
        for (name, database) in databases { streams[name] = (try database.lastSeq(), database.epoch) }
        let rejected = auditor.peek
        streams[RejectionAuditor.stream] = (rejected.lastSeq, rejected.epoch)
        try startIOThread(streams: streams)
        logger.info(
            "serving",
            metadata: [
                "commands": "\(configuration.commandEndpoint)", "events": "\(configuration.eventEndpoint)",
                "databases": "\(registry.databases.joined(separator: ","))",
            ]
        )
    }

    /// Asks the broker to stop: it stops admitting (new requests get `overloaded`), commits and
    /// answers everything already admitted, then closes its sockets. Returns at once; see ``wait()``.
    public func shutdown() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        doorbell.ring()
    }

    /// Blocks until the broker has fully stopped.
    public func wait() {
        let wasRunning = state.withLock { $0 == .running }
        guard wasRunning else { return }
        stopped.wait()
        stopped.signal()
    }

    /// Suspends until the broker has fully stopped, without blocking the caller's executor.
    public func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                self.wait()
                continuation.resume()
            }
        }
    }

    /// The synchronous level each database's writer connection commits with, read from the
    /// connections themselves: every served database, `audit.db` and `core.db`. Used by
    /// `sluice doctor`-style checks and by the tests that hold the broker to its configuration.
    public func writerSynchronousModes() throws -> [String: SynchronousMode?] {
        var modes: [String: SynchronousMode?] = [:]
        for (name, database) in databases { modes[name] = try database.writerSynchronousMode() }
        modes["audit"] = try SynchronousMode.current(of: auditor.peek.queue)
        let catalog = PluginCatalog(dataDirectory: configuration.dataDirectory, synchronous: configuration.synchronous)
        modes["core"] = try SynchronousMode.current(of: try catalog.openCore())
        return modes
    }

    // MARK: Threads

    private func startThread(
        name: String, inbox endpoint: String, body: @escaping @Sendable (ZMQContext, ZMQSocket) -> Void
    ) throws {
        let bound = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let thread = Thread { [context] in
            let inbox: ZMQSocket
            do {
                inbox = try context.socket(.pull)
                try inbox.setLinger(0)
                try inbox.setReceiveHighWaterMark(0)
                try inbox.bind(endpoint)
            } catch {
                failure.withLock { $0 = "\(error)" }
                bound.signal()
                return
            }
            bound.signal()
            body(context, inbox)
        }
        thread.name = name
        thread.start()
        bound.wait()
        if let message = failure.withLock({ $0 }) { throw BrokerStateError(message: "\(name): \(message)") }
    }

    /// The ZAP handler must be bound before the request socket accepts its first connection.
    private func startAuthenticator() throws {
        let bound = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let thread = Thread { [context, tokens, curveKeys, handshakeRefusals, configuration] in
            let socket: ZMQSocket
            do {
                socket = try context.socket(.rep)
                try socket.setLinger(0)
                try socket.bind(ZAPAuthenticator.endpoint)
            } catch {
                failure.withLock { $0 = "\(error)" }
                bound.signal()
                return
            }
            bound.signal()
            ZAPAuthenticator(
                tokens: tokens, curveKeys: curveKeys, allowsAnonymous: configuration.insecureTCP,
                refusals: handshakeRefusals
            ).run(socket: socket)
        }
        thread.name = "sluice-zap"
        thread.start()
        bound.wait()
        if let message = failure.withLock({ $0 }) { throw BrokerStateError(message: "ZAP handler: \(message)") }
    }

    private func startIOThread(streams: [String: (seq: Int64, epoch: String)]) throws {
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let thread = Thread { [self] in
            let loop = BrokerIOLoop(
                configuration: configuration, registry: registry, brokerEpoch: epoch, streams: streams,
                queryRegions: queryRegions, projections: projections, curveSecretKey: curveKeyPair?.secretKey,
                databaseFiles: databases.values.map(\.url)
                    + ["audit.db", "core.db"].map { configuration.dataDirectory.appendingPathComponent($0) },
                queryReaderCount: configuration.queryReaderThreads,
                handshakeRefusals: handshakeRefusals, metrics: metrics, logger: logger
            )
            loop.run(
                context: context, doorbell: doorbell,
                stopRequested: { self.stopRequested.load(ordering: .sequentiallyConsistent) }
            ) { error in
                if let error { failure.withLock { $0 = "\(error)" } }
                ready.signal()
            }
            // Every thread's sockets are closed by now (each worker closes its own on stop).
            context.terminate()
            lock.release()
            state.withLock { $0 = .stopped }
            logger.info("stopped")
            stopped.signal()
        }
        thread.name = "sluice-io"
        thread.start()
        ready.wait()
        if let message = failure.withLock({ $0 }) {
            shutdown()
            throw BrokerStateError(message: "could not bind: \(message)")
        }
    }
}

/// A broker used out of order (started twice), or unable to bind its endpoints.
public struct BrokerStateError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Hands the auditor, made on the starting thread, to its own thread exactly once.
final class RejectionAuditorBox: @unchecked Sendable {
    // Safe: `peek` reads immutable state (epoch, lastSeq before the thread starts; the thread-safe
    // DatabaseQueue at any time); `take` is called once, by the auditor's thread.
    private let auditor: RejectionAuditor
    init(_ auditor: RejectionAuditor) { self.auditor = auditor }
    var peek: RejectionAuditor { auditor }
    func take() -> RejectionAuditor { auditor }
}
