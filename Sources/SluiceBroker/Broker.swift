import Foundation
import GRDB
public import Logging
import SluiceWire
public import SluiceZMQ
import Synchronization

/// A Sluice broker: the I/O thread, one writer thread per database, the query readers, the store
/// reader and the auditor, sharing one ZeroMQ context.
///
/// ```swift
/// let broker = try Broker(configuration: configuration)   // reads and checks; touches nothing
/// try broker.start()  // takes the data directory, runs migrations, binds, serves
/// // ...
/// broker.shutdown()   // stop admitting, commit and answer what is queued
/// broker.wait()
/// ```
///
/// Making a broker has no side effects: it reads the contract sets and the installed plugins and
/// checks them, nothing more. ``start()`` does the work — creates the data directory, takes its
/// lock, makes keys and tokens, runs migrations, starts the threads — and when any step fails it
/// undoes the ones before (threads stopped, lock released) and throws.
public final class Broker: Sendable {
    public let configuration: BrokerConfiguration
    /// The contracts and plugins served: read when the broker is made, replaced by each reload
    /// (`RELOAD`, protocol.md §3.8, sent by `sluice plugins install|upgrade|disable|enable|remove`).
    public var registry: ContractRegistry { serving.withLock { $0?.registry } ?? loadedRegistry }
    private let loadedRegistry: ContractRegistry
    /// Identifies this broker process's lifetime; changes on every start.
    public let epoch: String
    let logger: Logger
    /// Identities and their tokens (`<data-dir>/tokens`).
    public let tokens: TokenStore
    /// CURVE keys for tcp endpoints (`<data-dir>/curve`).
    public let curveKeys: CurveKeyStore
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

    /// The broker's CURVE key pair once started, when an endpoint is tcp (clients need its
    /// public key).
    public var curveKeyPair: ZMQCurve.KeyPair? { opened.withLock { $0?.curveKeyPair } }

    /// The request endpoint of an in-process identity.
    public static func inprocEndpoint(for identity: String) -> String { InprocEndpoint.requests(identity) }

    /// The event endpoint of an in-process identity: a SUB there receives the topics that
    /// identity may read, as over ipc.
    public static func inprocEventEndpoint(for identity: String) -> String { InprocEndpoint.events(identity) }

    let doorbell = Doorbell()
    let stopRequested = Atomic<Bool>(false)
    /// Whether any subscriber has asked for the writers' events (shared by the I/O thread and
    /// the writers, across reloads).
    let eventDemand = EventDemand()
    let stopped = DispatchSemaphore(value: 0)
    /// Every thread this broker started, until it has let go of what it worked on.
    let threads = BrokerThreads()
    let state = Mutex<State>(.created)
    /// What ``start()`` opened, from then on.
    let opened = Mutex<Opened?>(nil)
    /// What is served, from ``start()`` on; replaced by a reload.
    let serving = Mutex<Serving?>(nil)
    /// Handshakes the ZAP handler refused, audited by the I/O thread.
    let handshakeRefusals = HandshakeRefusals()

    enum State { case created, starting, running, stopped }

    /// What ``start()`` opens once for the broker's life, whatever it serves.
    struct Opened: Sendable {
        let lock: DataDirectoryLock
        let auditKey: [UInt8]
        let curveKeyPair: ZMQCurve.KeyPair?
        let auditor: RejectionAuditorBox
    }

    /// A registry and what is opened from it: what the writers, readers and the I/O thread serve.
    struct Serving: Sendable {
        let registry: ContractRegistry
        let databases: [String: DatabaseFile]
        /// The Swift code of `"handler": "swift"` contracts.
        let handlers: [ContractID: CommandHandler]
        /// What each projection reads and the seq it reflects at start.
        let projections: ProjectionStart
        /// What each query contract reads (for cache invalidation), checked read-only at start.
        let queryRegions: [ContractID: DatabaseRegion]
    }

    /// Reads and checks the configuration, the contract sets and the installed plugins; writes
    /// nothing. Throws with the file and reason when anything is wrong.
    public init(configuration: BrokerConfiguration, logger: Logger = Logger(label: "sluice.broker")) throws {
        self.configuration = configuration
        self.logger = logger
        for identity in configuration.inprocIdentities where !TokenStore.isValidName(identity) {
            throw BrokerStateError(message: "inproc identity '\(identity)' is not an identity name")
        }
        if configuration.usesCurve, !ZMQCurve.isAvailable {
            throw BrokerStateError(message: "this libzmq has no CURVE support; tcp endpoints need it")
        }
        tokens = TokenStore(dataDirectory: configuration.dataDirectory)
        curveKeys = CurveKeyStore(dataDirectory: configuration.dataDirectory)
        loadedRegistry = try Self.loadRegistry(configuration)
        epoch = UUID().uuidString.lowercased()
    }

    /// Whether ``start()`` was called (the broker may be starting still, serving, or stopped).
    public var hasStarted: Bool { state.withLock { $0 != .created } }

    /// Opens the data directory (created 0700 if missing), takes its lock, runs pending
    /// migrations, starts every thread and binds the endpoints; returns once the broker is
    /// serving. On failure everything it started is stopped again and the lock released.
    public func start() throws {
        try state.withLock { state in
            guard state == .created else { throw BrokerStateError(message: "a broker starts once") }
            state = .starting
        }
        let opened: Opened
        let serving: Serving
        do {
            opened = try open()
            self.opened.withLock { $0 = opened }
            serving = try serve(loadedRegistry, opened)
            self.serving.withLock { $0 = serving }
            try startAuthenticator()
            try RejectionAuditor.start(
                name: "sluice-auditor", inbox: RejectionAuditor.inboxEndpoint, context: context, threads: threads
            ) { opened.auditor.take() }
            try startWorkers(serving, opened)
        } catch {
            // Threads already started get ETERM on their inbox and close their sockets; they have
            // let go of the files they held before this throws.
            finish()
            if !threads.waitUntilFinished(seconds: 30) {
                logger.warning("a failed start left broker threads that had not finished after 30 s")
            }
            throw error
        }
        // From here the I/O thread owns the stop: it calls `finish()` when it ends.
        try startIOThread(opened, serving)
        // (Unless a stop already ended it.)
        state.withLock { if $0 == .starting { $0 = .running } }
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

    /// Blocks until the broker has fully stopped; returns at once if it never started.
    public func wait() {
        guard state.withLock({ $0 != .created }) else { return }
        stopped.wait()
        stopped.signal()
        // The threads have closed their sockets; wait until they have also let go of the
        // database files they held, so that the last reference is the caller's: the files close
        // when it lets go of the broker, not a moment later on a thread still unwinding.
        if !threads.waitUntilFinished(seconds: 30) {
            logger.warning("stopped, but some broker threads had not finished after 30 s")
        }
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
        guard let opened = opened.withLock({ $0 }), let serving = serving.withLock({ $0 }) else {
            throw BrokerStateError(message: "the broker has not started")
        }
        var modes: [String: SynchronousMode?] = [:]
        for (name, database) in serving.databases { modes[name] = try database.writerSynchronousMode() }
        modes["audit"] = try SynchronousMode.current(of: opened.auditor.peek.queue)
        let catalog = PluginCatalog(dataDirectory: configuration.dataDirectory, synchronous: configuration.synchronous)
        modes["core"] = try SynchronousMode.current(of: try catalog.openCore())
        return modes
    }

    // MARK: Starting

    /// The contract sets and the installed plugins (the disabled ones without their contracts),
    /// checked together.
    private static func loadRegistry(_ configuration: BrokerConfiguration) throws -> ContractRegistry {
        var registry = try ContractRegistry(directories: configuration.contractDirectories)
        try registry.loadInstalledPlugins(dataDirectory: configuration.dataDirectory)
        try registry.checkEventTopics()
        try registry.checkProjections()
        if configuration.postgres == nil, let plugin = registry.postgresDatabases.sorted().first {
            throw BrokerStateError(
                message:
                    "plugin \(plugin) keeps its data in PostgreSQL (\"exclusive-postgres\"), and no server is configured: give postgres.url (and postgres.password_file) in the configuration file, or --postgres-url")
        }
        return registry
    }

    /// The start's work on disk, in order; the lock first, so nothing is touched while another
    /// broker serves the directory.
    private func open() throws -> Opened {
        SQLiteProcess.prepare()
        try DurableFile.createDirectory(configuration.dataDirectory)
        try configuration.sharedSockets?.prepareDirectory(dataDirectory: configuration.dataDirectory)
        let lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        do {
            let auditKey = try AuditKey.loadOrCreate(in: configuration.dataDirectory)
            try tokens.ensureToken(for: TokenStore.operatorName)
            var curveKeyPair: ZMQCurve.KeyPair?
            if configuration.usesCurve {
                curveKeyPair = try curveKeys.brokerKeyPair()
                try curveKeys.operatorKeyPair()
            }
            if configuration.insecureTCP {
                logger.warning(
                    "--insecure-tcp: tcp endpoints are served without encryption or authentication; every tcp connection is 'anonymous' and may only HELLO and PING")
            }
            return Opened(
                lock: lock, auditKey: auditKey, curveKeyPair: curveKeyPair,
                auditor: RejectionAuditorBox(
                    try RejectionAuditor(
                        directory: configuration.dataDirectory, synchronous: configuration.synchronous,
                        retention: configuration.rejectionRetention, logger: logger))
            )
        } catch {
            lock.release()
            throw error
        }
    }

    /// Opens what `registry` serves: records its contracts in core.db, opens each database
    /// (running pending migrations, plugins confined to their own tables), checks the Swift
    /// handlers, brings projections up to date and checks the query contracts read-only.
    private func serve(_ registry: ContractRegistry, _ opened: Opened) throws -> Serving {
        try PluginCatalog(dataDirectory: configuration.dataDirectory, synchronous: configuration.synchronous)
            .recordContracts(registry)
        let isolation = try PluginIsolation(registry: registry)
        var databases: [String: DatabaseFile] = [:]
        for name in registry.sqliteDatabases {
            databases[name] = try DatabaseFile(
                name: name, directory: configuration.dataDirectory, file: registry.file(of: name),
                migrations: registry.migrations[name] ?? [],
                synchronous: configuration.synchronous,
                ledgerRetentionMs: configuration.ledgerRetentionMs,
                maxBytes: registry.storageLimit(of: name), walSizeLimitBytes: configuration.walSizeLimitBytes,
                isolation: isolation.rules(for: name, in: registry)
            )
        }
        return Serving(
            registry: registry, databases: databases,
            handlers: try CommandWriter.handlers(configuration.commandHandlers, of: registry),
            projections: try ProjectionStart(Array(registry.projections.values), databases: databases, logger: logger),
            queryRegions: try QueryCheck.regions(of: registry, in: databases)
        )
    }

    /// The threads that serve a registry: a writer per database, the query readers and the store
    /// reader. A reload stops and starts them; the ZAP handler, the auditor and the I/O thread
    /// (and its connections) stay.
    private func startWorkers(_ serving: Serving, _ opened: Opened) throws {
        let registry = serving.registry
        for (name, database) in serving.databases {
            try CommandWriter.start(
                name: "sluice-writer-\(name)", inbox: CommandWriter.inboxEndpoint(name), context: context,
                threads: threads
            ) { [configuration, logger, eventDemand] in
                try CommandWriter(
                    database: database, maxBatchSize: configuration.maxBatchSize,
                    idleCheckpointMs: configuration.idleCheckpointMs, auditKey: opened.auditKey, registry: registry,
                    projectionSources: serving.databases, handlers: serving.handlers, eventDemand: eventDemand,
                    logger: logger
                )
            }
        }
        if let server = configuration.postgres {
            for name in registry.postgresDatabases {
                try PostgresWriter.start(
                    name: "sluice-writer-\(name)", inbox: CommandWriter.inboxEndpoint(name), context: context,
                    threads: threads
                ) { [configuration, logger] in
                    PostgresWriter(
                        database: name, server: server, dataDirectory: configuration.dataDirectory, registry: registry,
                        maxBatchSize: configuration.maxBatchSize, ledgerRetentionMs: configuration.ledgerRetentionMs,
                        auditKey: opened.auditKey, logger: logger)
                }
            }
        }
        for index in 0..<configuration.queryReaderThreads {
            try QueryReader.start(
                name: "sluice-query-reader-\(index)", inbox: QueryReader.inboxEndpoint(index), context: context,
                threads: threads
            ) { [configuration, logger] in
                QueryReader(
                    index: index, databases: serving.databases,
                    postgres: PostgresReads(
                        server: configuration.postgres, dataDirectory: configuration.dataDirectory,
                        databases: registry.postgresDatabases, logger: logger),
                    logger: logger)
            }
        }
        let auditDatabase = configuration.dataDirectory.appendingPathComponent("audit.db")
        let auditEpoch = opened.auditor.peek.epoch
        try StoreReader.start(
            name: "sluice-store-reader", inbox: StoreReader.inboxEndpoint, context: context, threads: threads
        ) {
            [configuration, logger] in
            StoreReader(
                databases: serving.databases,
                postgres: PostgresReads(
                    server: configuration.postgres, dataDirectory: configuration.dataDirectory,
                    databases: registry.postgresDatabases, logger: logger),
                registry: registry, auditKey: opened.auditKey,
                auditDatabase: auditDatabase, auditEpoch: auditEpoch, maxPageBytes: configuration.maxSyncPageBytes,
                logger: logger)
        }
    }

    /// What the I/O thread serves of `serving`. The auditor's streams only at start, before its
    /// thread runs (``RejectionAuditorBox``): after a reload the I/O thread keeps its own positions.
    private func served(_ serving: Serving, _ opened: Opened, atStart: Bool = false) throws -> ServedSet {
        var streams: [String: (seq: Int64, epoch: String)] = [:]
        for (name, database) in serving.databases { streams[name] = (try database.lastSeq(), database.epoch) }
        // A PostgreSQL database's position is its writer's to read (the server may be down now):
        // the I/O thread learns it from the first events.
        for name in serving.registry.postgresDatabases { streams[name] = (0, "") }
        if atStart {
            let auditor = opened.auditor.peek
            streams[RejectionAuditor.stream] = (auditor.lastSeq, auditor.epoch)
            streams[RejectionAuditor.lifecycleStream] = (auditor.lastLifecycleSeq, auditor.epoch)
        }
        return ServedSet(
            registry: serving.registry, queryRegions: serving.queryRegions, projections: serving.projections,
            databaseFiles: serving.databases.values.map(\.url)
                + ["audit.db", "core.db"].map { configuration.dataDirectory.appendingPathComponent($0) },
            streams: streams)
    }

    // MARK: Reloading

    /// Serves the plugins installed now: called on the I/O thread once every writer, query
    /// reader and the store reader have stopped (everything they were given is answered). Reads
    /// the contract sets and `installed/` again, opens what they serve (new databases created,
    /// new migrations run) and starts the workers. When anything fails, the previous set is
    /// served again (its databases are still open) and the error is returned.
    ///
    /// - Parameter purge: a plugin the operator removed with `--purge`: once the new set serves
    ///   without it (its new workers have no work before the I/O thread resumes), its data is
    ///   deleted (``PluginCatalog/purge(_:registry:)``). A purge that fails is logged; the
    ///   removal stands.
    func reload(purge: String?) -> Reloaded {
        guard let opened = opened.withLock({ $0 }), let previous = serving.withLock({ $0 }) else {
            preconditionFailure("reload before start")
        }
        do {
            let registry = try Self.loadRegistry(configuration)
            let next = try serve(registry, opened)
            try startWorkers(next, opened)
            serving.withLock { $0 = next }
            var purged = false
            if let purge, previous.registry.plugins[purge] != nil, registry.plugins[purge] == nil {
                do {
                    if previous.registry.postgresDatabases.contains(purge), let server = configuration.postgres {
                        // On the I/O thread, which waits for the server (10 s at most per
                        // statement): an operator's purge is rare, and nothing is admitted during
                        // a reload anyway.
                        try PostgresProvisioning.purge(
                            purge, server: server, dataDirectory: configuration.dataDirectory, logger: logger)
                    } else {
                        try PluginCatalog(dataDirectory: configuration.dataDirectory, synchronous: configuration.synchronous)
                            .purge(purge, registry: previous.registry)
                    }
                    purged = true
                } catch {
                    logger.error("could not purge a removed plugin's data", metadata: ["plugin": "\(purge)", "error": "\(error)"])
                }
            }
            return Reloaded(served: try served(next, opened), previous: previous.registry, purged: purged)
        } catch {
            logger.error("reload refused; serving the previous plugins", metadata: ["error": "\(error)"])
            do {
                try PluginCatalog(dataDirectory: configuration.dataDirectory, synchronous: configuration.synchronous)
                    .recordContracts(previous.registry)
                try startWorkers(previous, opened)
                return Reloaded(served: try served(previous, opened), previous: previous.registry, error: error)
            } catch let failure {
                // The threads of the set that served a moment ago could not start again: nothing
                // sensible is left to serve. Stop (everything admitted was answered before).
                logger.critical("could not serve the previous plugins again; stopping", metadata: ["error": "\(failure)"])
                shutdown()
                return Reloaded(served: ServedSet(registry: previous.registry), previous: previous.registry, error: failure)
            }
        }
    }

    /// The ZAP handler must be bound before the request socket accepts its first connection.
    private func startAuthenticator() throws {
        try BrokerThread.start(name: "sluice-zap", threads: threads) { [context, tokens, curveKeys, handshakeRefusals, configuration] ready in
            let socket: ZMQSocket
            do {
                socket = try context.socket(.rep)
                try socket.setLinger(0)
                try socket.bind(ZAPAuthenticator.endpoint)
            } catch {
                ready(error)
                return
            }
            ready(nil)
            ZAPAuthenticator(
                tokens: tokens, curveKeys: curveKeys, allowsAnonymous: configuration.insecureTCP,
                refusals: handshakeRefusals
            ).run(socket: socket)
        }
    }

    /// The I/O thread binds the endpoints and serves; when it ends (a stop, or endpoints it could
    /// not bind) it stops the broker: ``finish()``.
    private func startIOThread(_ opened: Opened, _ serving: Serving) throws {
        let loop = BrokerIOLoop(
            configuration: configuration, served: try served(serving, opened, atStart: true), brokerEpoch: epoch,
            curveSecretKey: opened.curveKeyPair?.secretKey, queryReaderCount: configuration.queryReaderThreads,
            handshakeRefusals: handshakeRefusals, credentials: CredentialCheck(tokens: tokens, curveKeys: curveKeys, cachesVerdicts: true),
            eventDemand: eventDemand, metrics: metrics, logger: logger
        )
        loop.reloader = { [unowned self] in reload(purge: $0) }
        let handOver = LoopBox(loop)
        do {
            try BrokerThread.start(name: "sluice-io", threads: threads) { [self] ready in
                handOver.take().run(
                    context: context, doorbell: doorbell,
                    stopRequested: { self.stopRequested.load(ordering: .sequentiallyConsistent) }, ready: ready)
                finish()
            }
        } catch {
            wait()  // for `finish()` on the I/O thread: the lock is free when this throws
            throw BrokerStateError(message: "could not bind: \(error)")
        }
    }

    /// The one way a broker ends, started or half-started: terminating the context makes every
    /// thread still waiting on a socket get ETERM and close its sockets (each worker closes its
    /// own on every path, so this never waits forever), then the data directory is let go.
    private func finish() {
        context.terminate()
        opened.withLock { $0?.lock.release() }
        state.withLock { $0 = .stopped }
        logger.info("stopped")
        stopped.signal()
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

/// Hands the I/O loop, made on the starting thread, to its own thread, which alone uses it.
final class LoopBox: @unchecked Sendable {
    // Safe: the starting thread gives up its reference before the I/O thread takes it.
    private let loop: BrokerIOLoop
    init(_ loop: BrokerIOLoop) { self.loop = loop }
    func take() -> BrokerIOLoop { loop }
}
