import Foundation
import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// The broker's I/O thread: owns the ROUTER (requests) and the XPUB (events), admits or rejects
/// each request, hands admitted commands to their database's writer, and sends replies and events
/// when the writers report back. Every socket here lives and dies on this one thread.
final class BrokerIOLoop {
    static let noticeEndpoint = "inproc://sluice-notices"

    /// The scope of an idempotency key: one actor's key in one database (the ledger is the
    /// database's; protocol.md §3.1).
    struct InFlightKey: Hashable {
        var actor: String
        var database: String
        var key: String

        /// Keys are the same key when their code points are, as in the ledger (SQLite compares
        /// bytes): `"é"` and `"e\u{301}"` are two keys, which Swift's `String ==` would merge.
        static func == (lhs: InFlightKey, rhs: InFlightKey) -> Bool {
            JSONValue.sameCodePoints(lhs.key, rhs.key) && JSONValue.sameCodePoints(lhs.actor, rhs.actor)
                && JSONValue.sameCodePoints(lhs.database, rhs.database)
        }

        /// The idempotency key's bytes alone: it tells in-flight commands apart on its own
        /// (clients make them unique), and hashing one string's bytes instead of three normalized
        /// strings is ~6 String hashes less per command (lookup, insert, removal).
        func hash(into hasher: inout Hasher) { JSONValue.hashCodePoints(key, into: &hasher) }
    }

    /// A command admitted and not yet answered, with every client waiting on it.
    struct PendingCommand {
        var primary: ReplyTarget
        var waiters: [ReplyTarget] = []
        /// The command as it went to its writer: one reference for its key, contract, payload,
        /// database and arrival, instead of a copy of each (a retain and a release apiece).
        let command: AdmittedCommand
        /// Its request frames' size, counted against `maxQueuedBytesPerDatabase`.
        var bytes: Int

        var key: InFlightKey {
            InFlightKey(actor: command.actor, database: command.contract.database, key: command.request.idempotencyKey)
        }
        var receivedAt: UInt64 { command.receivedAt }
        var contract: ContractID { command.request.contract }
        var payload: JSONValue { command.request.payload }
        var database: String { command.contract.database }
    }

    let configuration: BrokerConfiguration
    /// What is served; replaced by a reload (BrokerIOLoop+Reload.swift).
    var registry: ContractRegistry
    let brokerEpoch: String
    let logger: Logger
    let queryReaderCount: Int
    var streams: [String: (seq: Int64, epoch: String)]

    var counters = BrokerCounters()
    /// Where the counters go for Prometheus, once per heartbeat.
    let metrics: BrokerMetrics?
    var actorCounters: [String: ActorCounters] = [:]
    /// Rate-limited requests per identity not yet audited (they are audited once per heartbeat).
    var rateLimitedSinceAudit: [String: Int] = [:]
    var nextToken: UInt64 = 1
    var inFlight: [InFlightKey: UInt64] = [:]
    var pendingCommands: [UInt64: PendingCommand] = [:]
    /// Requests answered by the store reader (STATUS, SYNC), by token.
    var pendingReads: [UInt64: ReplyTarget] = [:]
    /// For the read audit: what each pending `STATUS` and `SYNC` asked, by the same token.
    var pendingReadAudits: [UInt64: PendingReadAudit] = [:]
    /// Per database: its writer's inbox, queue counts, commands not yet handed over and outcomes
    /// not yet sent back. A database keeps its lane across reloads (its counts drain to zero
    /// once it is no longer served).
    var lanes: [String: DatabaseLane] = [:]
    /// The lanes with commands admitted in the current pass, each once.
    var lanesWithHandoffs: [DatabaseLane] = []
    // The read path (BrokerIOLoop+Queries.swift).
    var queryReaders: [ZMQSocket] = []
    var idleReaders: [Int] = []
    var queryQueue: [QueryReader.Job] = []
    var queryFlights: [String: QueryFlight] = [:]
    var queryTokens: [UInt64: String] = [:]
    var queryCache: [String: CachedResult] = [:]
    /// Sum of the cached bodies' sizes, kept under `maxCachedResultBytes`.
    var queryCacheBytes = 0
    var queryStats: [ContractID: QueryCounters] = [:]
    /// What each query contract reads, for cache invalidation.
    var queryRegions: [ContractID: DatabaseRegion] = [:]
    // Projections (BrokerIOLoop+Projections.swift).
    /// The source tables each projection reads.
    var projectionRegions: [String: DatabaseRegion] = [:]
    var projectionsBySource: [String: [Projection]] = [:]
    var projectionsReadByQuery: [ContractID: [Projection]] = [:]
    /// The source seq each projection's table reflects, as its writer last reported.
    var projectionSeqs: [String: Int64] = [:]
    var parkedQueries: [ParkedQuery] = []
    /// Per projection: refreshes committed, their time, and refreshes that failed (in `STATS`).
    var projectionCounters: [String: (refreshes: Int64, micros: Int64, failures: Int64)] = [:]
    /// Set once a stop was asked for: nothing new goes to the writers but what they must answer.
    var draining = false

    /// Token buckets per actor (for `rate_per_second`), in monotonic nanoseconds.
    var rateBuckets: [String: (tokens: Double, refilledAt: UInt64)] = [:]
    /// The same for queries, and each actor's queries admitted and not yet answered.
    var queryRateBuckets: [String: (tokens: Double, refilledAt: UInt64)] = [:]
    var queriesInFlightPerActor: [String: Int] = [:]
    /// Answered queries of the current pass, for the read audit (``flushReadAudit()``).
    var answeredReads: [ReadRecord] = []
    var heartbeatSeq: Int64 = 0
    /// Random bytes for the ids generated at admission, fetched from the kernel in blocks.
    var randomSource = BufferedRandom()
    /// The last admission's timestamp, reused while the millisecond is the same.
    var lastAdmission: (text: String, milliseconds: Int64) = ("", -1)
    /// Rejection records handed to the auditor and not yet stored. Past
    /// `configuration.maxRejectionBacklog` further refusals are counted per (actor, code)
    /// instead, and audited in aggregate once the auditor has caught up: a flood of refusals
    /// costs bounded memory.
    var rejectionBacklog = 0
    var overflowedRejections: [RejectionKind: Int] = [:]

    struct RejectionKind: Hashable {
        var actor: String
        var code: String
    }

    /// The broker's CURVE secret key (Z85), for sockets on tcp endpoints.
    let curveSecretKey: String?
    /// Every database file the broker owns (for the golden invariant's runtime check).
    var databaseFiles: [URL] = []
    /// Opens of the database files (another process holding one: BrokerIOLoop+Invariant.swift) and
    /// changes in the credential directories (``CredentialCheck``).
    let fileWatch = FileWatch()
    /// When to look at the files' holders once more after an open (see ``checkForeignHolders()``).
    var holderRecheckAt: UInt64?
    /// (pid, file) pairs already reported, so each holder is logged and audited once.
    var reportedHolders: Set<OpenFileHolders.Holder> = []

    /// Credentials the ZAP handler refused (counted there, audited here once per heartbeat).
    let handshakeRefusals: HandshakeRefusals
    /// Whether an open connection's credential still holds (revocation reaches open connections).
    let credentials: CredentialCheck?
    /// Marked when a granted subscription can match a writer's event (the writers encode none
    /// before).
    let eventDemand: EventDemand

    // Sockets, set up in `run` on the I/O thread.
    var router: ZMQSocket!
    /// One ROUTER per in-process identity (`inproc://sluice/<id>`): the socket names the actor.
    var inprocRouters: [(socket: ZMQSocket, actor: String)] = []
    var publisher: ZMQSocket!
    /// One XPUB per in-process identity (`inproc://sluice/<id>/events`): the socket names the
    /// subscriber, as the ROUTERs do for requests.
    var inprocPublishers: [(socket: ZMQSocket, actor: String)] = []
    var auditorInbox: ZMQSocket!
    var readerInbox: ZMQSocket!
    var context: ZMQContext!
    /// The workers still running, by the name of their `stopped` notice: the writers, and the
    /// helpers (query readers, store reader; the auditor until a stop). The loop ends once a
    /// stop has emptied both; a reload waits for them too.
    var workersRunning: Set<String> = []
    var helpersRunning: Set<String> = []
    /// Set while a `RELOAD` is under way (BrokerIOLoop+Reload.swift).
    var reloading: Reload?
    /// Serves the plugins installed now once every worker has stopped: ``Broker/reload()``.
    var reloader: ((_ purge: String?) -> Reloaded)?
    /// The peers of the router and the publisher: connection count, closed request connections.
    var connectionWatch: ConnectionWatch!

    init(
        configuration: BrokerConfiguration, served: ServedSet, brokerEpoch: String, curveSecretKey: String?,
        queryReaderCount: Int, handshakeRefusals: HandshakeRefusals, credentials: CredentialCheck? = nil,
        eventDemand: EventDemand = EventDemand(wanted: true), metrics: BrokerMetrics? = nil, logger: Logger
    ) {
        self.credentials = credentials
        self.eventDemand = eventDemand
        self.curveSecretKey = curveSecretKey
        self.handshakeRefusals = handshakeRefusals
        self.metrics = metrics
        self.queryReaderCount = queryReaderCount
        self.configuration = configuration
        self.registry = served.registry
        self.brokerEpoch = brokerEpoch
        self.streams = [:]
        self.logger = logger
        adopt(served)
    }

    /// Serves `served`: at start, and after each reload.
    func adopt(_ served: ServedSet) {
        registry = served.registry
        queryRegions = served.queryRegions
        databaseFiles = served.databaseFiles
        projectionRegions = served.projections.regions
        projectionSeqs = served.projections.seqs
        projectionsBySource = Dictionary(grouping: registry.projections.values, by: \.sourceDatabase)
        projectionsReadByQuery = BrokerIOLoop.projectionsRead(registry: registry, queryRegions: queryRegions)
        // A database's stream keeps its position across a reload (its writer stopped on it); a
        // new database's comes in, a removed one's goes. The auditor's streams, which the reload
        // does not read (the auditor keeps running), keep the positions this thread knows.
        var next = served.streams
        for stream in [RejectionAuditor.stream, RejectionAuditor.lifecycleStream] where next[stream] == nil {
            next[stream] = streams[stream]
        }
        streams = next
    }

    /// Binds the sockets, reports through `ready`, then serves until `stopRequested` turns true
    /// (the doorbell rings) and every queued command has been committed and answered.
    func run(
        context: ZMQContext, doorbell: Doorbell, stopRequested: @escaping () -> Bool, ready: ((any Error)?) -> Void
    ) {
        let notices: ZMQSocket
        do {
            notices = try context.socket(.pull)
            try notices.setLinger(0)
            try notices.setReceiveHighWaterMark(0)
            try notices.bind(BrokerIOLoop.noticeEndpoint)
            router = try context.socket(.router)
            try secure(router, for: configuration.commandEndpoint)
            try router.setLinger(2000)
            try router.setRouterMandatory(true)
            try router.setMaxMessageSize(Int64(configuration.limits.maxFrameBytes))
            try router.setSendHighWaterMark(configuration.clientHighWaterMark)
            try router.setReceiveHighWaterMark(configuration.clientHighWaterMark)
            try router.setHeartbeat(interval: 5000, timeout: 15_000, ttl: 15_000)
            for identity in configuration.inprocIdentities {
                let socket = try context.socket(.router)
                try socket.setLinger(0)
                try socket.setRouterMandatory(true)
                try socket.setMaxMessageSize(Int64(configuration.limits.maxFrameBytes))
                try socket.setSendHighWaterMark(configuration.clientHighWaterMark)
                try socket.setReceiveHighWaterMark(configuration.clientHighWaterMark)
                try socket.bind(Broker.inprocEndpoint(for: identity))
                inprocRouters.append((socket, identity))
            }
            // Events: an XPUB behind the same handshake; each subscription is granted per identity
            // (BrokerIOLoop+Subscriptions.swift).
            publisher = try context.socket(.xpub)
            try secure(publisher, for: configuration.eventEndpoint)
            try publisher.setXPubManual(true)
            try publisher.setLinger(1000)
            try publisher.setSendHighWaterMark(configuration.eventHighWaterMark)
            for identity in configuration.inprocIdentities {
                let events = try context.socket(.xpub)
                try events.setXPubManual(true)
                try events.setLinger(0)
                try events.setSendHighWaterMark(configuration.eventHighWaterMark)
                try events.bind(Broker.inprocEventEndpoint(for: identity))
                inprocPublishers.append((events, identity))
            }
            connectionWatch = try ConnectionWatch(context: context, requests: router, events: publisher)
            connectionWatch.onRequestConnectionClosed = { [unowned self] in cancelReads(ofConnection: $0) }
            try router.bind(configuration.commandEndpoint)
            try publisher.bind(configuration.eventEndpoint)
            try configuration.sharedSockets?.grant(endpoints: [configuration.commandEndpoint, configuration.eventEndpoint])
            auditorInbox = try context.handoverSocket(to: RejectionAuditor.inboxEndpoint, linger: -1)
            self.context = context
            try connectWorkers()
        } catch {
            connectionWatch?.close()
            closeSockets()
            ready(error)
            return
        }
        ready(nil)
        do {
            defer { connectionWatch.close() }
            try serve(notices: notices, doorbell: doorbell, stopRequested: stopRequested)
        } catch {
            logger.critical("I/O loop stopped on a ZeroMQ error", metadata: ["error": "\(error)"])
        }
        notices.close()
        closeSockets()
    }

    /// PLAIN on ipc, CURVE (or, with `insecureTCP`, NULL) on tcp; every connection goes through
    /// the ZAP handler, which fails closed.
    private func secure(_ socket: ZMQSocket, for endpoint: String) throws(ZMQError) {
        switch configuration.security(of: endpoint) {
        case .plain: try socket.setPlainServer(domain: ZAPAuthenticator.domain)
        case .curve: try socket.setCurveServer(secretKey: curveSecretKey ?? "", domain: ZAPAuthenticator.domain)
        case .null: try socket.setNullServer(domain: ZAPAuthenticator.domain)
        }
    }

    private func closeSockets() {
        router?.close()
        for (socket, _) in inprocRouters { socket.close() }
        publisher?.close()
        for (socket, _) in inprocPublishers { socket.close() }
        auditorInbox?.close()
        disconnectWorkers()
    }

    /// Hand-over sockets to the workers that serve the registry: each database's writer, the
    /// query readers (all idle) and the store reader. At start and after a reload.
    func connectWorkers() throws(ZMQError) {
        for database in registry.databases {
            // An admitted command must reach its writer: no linger limit.
            lane(database).inbox = try context.handoverSocket(to: CommandWriter.inboxEndpoint(database), linger: -1)
        }
        for index in 0..<queryReaderCount {
            queryReaders.append(try context.handoverSocket(to: QueryReader.inboxEndpoint(index), linger: 0))
            idleReaders.append(index)
        }
        readerInbox = try context.handoverSocket(to: StoreReader.inboxEndpoint, linger: -1)
        workersRunning = Set(registry.databases)
        helpersRunning.formUnion(["store-reader"] + (0..<queryReaderCount).map { "query-reader-\($0)" })
    }

    /// Closes the hand-over sockets of ``connectWorkers()`` (their workers have stopped).
    func disconnectWorkers() {
        for lane in lanes.values {
            lane.inbox?.close()
            lane.inbox = nil
        }
        for socket in queryReaders { socket.close() }
        queryReaders.removeAll()
        idleReaders.removeAll()
        readerInbox?.close()
        readerInbox = nil
    }

    /// Nothing in flight: no command, query, parked query or store read waits for an answer.
    var isQuiet: Bool {
        pendingCommands.isEmpty && queryFlights.isEmpty && queryQueue.isEmpty && pendingReads.isEmpty
            && parkedQueries.isEmpty && reloading == nil
    }

    private func serve(
        notices: ZMQSocket, doorbell: Doorbell, stopRequested: () -> Bool
    ) throws(ZMQError) {
        var poller = ZMQPoller()
        let routerIndex = poller.add(router)
        let inprocIndexes = inprocRouters.map { poller.add($0.socket) }
        let publisherIndex = poller.add(publisher)
        let inprocPublisherIndexes = inprocPublishers.map { poller.add($0.socket) }
        let noticeIndex = poller.add(notices)
        let doorbellIndex = poller.add(fileDescriptor: doorbell.fileDescriptor)
        connectionWatch.register(with: &poller)
        var idle = configuration.idleExitMs.map { IdleExit(afterMs: $0) }
        fileWatch.watchDatabases(databaseFiles)
        for directory in credentials?.watchedDirectories ?? [] { fileWatch.watchCredentials(directory) }
        credentials?.cachesVerdicts = fileWatch.isWatching
        if !fileWatch.isWatching {
            logger.warning(
                "no inotify instance (fs.inotify.max_user_instances reached?): other processes opening the databases are found by sluice doctor only, and revoked credentials are checked on every request",
                metadata: ["errno": "\(fileWatch.failure)"])
        }
        let fileWatchIndex = fileWatch.isWatching ? poller.add(fileDescriptor: fileWatch.fileDescriptor) : nil
        checkForeignHolders()
        let heartbeatNanos = UInt64(configuration.heartbeatIntervalMs) * 1_000_000
        var nextHeartbeat = Clock.monotonicNanoseconds()
        helpersRunning.insert("rejection-auditor")

        while true {
            // A reload holds requests in the sockets (clients wait, nothing is refused).
            poller.watch(routerIndex, reloading == nil)
            for index in inprocIndexes { poller.watch(index, reloading == nil) }
            let now = Clock.monotonicNanoseconds()
            if now >= nextHeartbeat {
                publishHeartbeat()
                nextHeartbeat = now + heartbeatNanos
            }
            expireParkedQueries(now: now)
            if let recheck = holderRecheckAt, now >= recheck {
                holderRecheckAt = nil
                checkForeignHolders()
            }
            var wakeAt = min(nextHeartbeat, nextParkedDeadline ?? nextHeartbeat, holderRecheckAt ?? nextHeartbeat)
            if let exitAt = idle?.exitAt, !draining { wakeAt = min(wakeAt, exitAt) }
            let timeout = Int((wakeAt - min(wakeAt, Clock.monotonicNanoseconds())) / 1_000_000) + 1
            let readable = try poller.poll(timeoutMilliseconds: timeout)
            if readable[doorbellIndex] { doorbell.reset() }
            let idleExpired =
                idle?.note(
                    quiet: isQuiet, connections: connectionWatch.connections, now: Clock.monotonicNanoseconds())
                ?? false
            for index in connectionWatch.indexes where readable[index] { connectionWatch.drain(socket: index) }
            if readable[doorbellIndex] || idleExpired {
                // A stop asked for during a reload begins once the reload has ended.
                if (stopRequested() || idleExpired) && !draining && reloading == nil {
                    draining = true
                    if idleExpired { logger.info("idle: no client and nothing pending; stopping") }
                    logger.info("draining: new requests get 'overloaded'; committing what is queued")
                    for inbox in lanes.values.compactMap(\.inbox) {
                        try inbox.sendObject(WriterMessage.drainAndStop)
                    }
                    refuseQueuedQueries()
                    refuseParkedQueries()
                    if workersRunning.isEmpty { try stopHelpers() }
                }
            }
            if let fileWatchIndex, readable[fileWatchIndex] {
                let changes = fileWatch.drain()
                if changes.contains(.credentialsChanged) { credentials?.forget() }
                if changes.contains(.databaseOpened) {
                    checkForeignHolders()
                    // The open's event can come before the opener's descriptor is in /proc: one
                    // more look a moment later catches an opener the first one missed.
                    holderRecheckAt = Clock.monotonicNanoseconds() + BrokerIOLoop.holderRecheckDelayNanos
                }
            }
            if readable[noticeIndex] {
                while let notice = try notices.receiveObject(BrokerNotice.self, dontWait: true) {
                    switch notice {
                    case .outcomes(let outcomes, let database, _):
                        answer(outcomes)
                        // Back to the writer to be freed there, with its next commands (after a
                        // stop its inbox is gone: then they are freed here).
                        let lane = lane(database)
                        lane.batches += 1
                        lane.batchedCommands += Int64(outcomes.count)
                        lane.answeredOutcomes += outcomes
                        if lane.answeredOutcomes.count >= BrokerIOLoop.maximumHeldOutcomes {
                            releaseAnsweredOutcomes(of: lane)
                        }
                    case .status(let token, let status): answerStatus(token: token, status)
                    case .rejectionsStored(let handled, let events):
                        rejectionBacklog -= handled
                        publish(events)
                    case .queryAnswer(let answer): answerQuery(answer)
                    case .projected(let database, let results): projected(database: database, results)
                    case .position(let database, let seq, let epoch):
                        if let known = streams[database], known.epoch.isEmpty || seq > known.seq {
                            streams[database] = (seq, epoch)
                        }
                    case .compacted(let token, let result):
                        if let target = pendingReads.removeValue(forKey: token) {
                            switch result {
                            case .success(let body): reply(target, .compacted, body: body)
                            case .failure(let error): reply(target, .error, body: error.json)
                            }
                        }
                    case .replay(let token, let messages):
                        if let target = pendingReads.removeValue(forKey: token) {
                            for frames in messages { send(target, frames) }
                            // A page is REPLAYs then SYNC_END, or one ERROR.
                            let failed = messages.count == 1 && messages[0].count > 1 && messages[0][1] == Array("ERROR".utf8)
                            auditRead(token: token, target: target, status: failed ? "error" : "ok")
                        }
                    case .stopped(let name) where reloading != nil:
                        workerStoppedForReload(name)
                        if reloading == nil, stopRequested() { doorbell.ring() }
                    case .stopped(let name):
                        if workersRunning.remove(name) != nil, workersRunning.isEmpty { try stopHelpers() }
                        helpersRunning.remove(name)
                    }
                }
                if draining && workersRunning.isEmpty && helpersRunning.isEmpty { return }
            }
            if readable[publisherIndex] {
                while let received = try publisher.receive(
                    dontWait: true, properties: BrokerIOLoop.connectionProperties)
                {
                    let actor = received.properties[0] ?? ""
                    // A connection whose credential was revoked since its handshake is granted nothing.
                    guard credentials?.stillHolds(actor: actor, credential: received.properties[1]) != false else {
                        counters.subscriptionsRefused += 1
                        continue
                    }
                    if let message = received.frames.first { handleSubscription(message, actor: actor, on: publisher) }
                }
            }
            for (position, index) in inprocPublisherIndexes.enumerated() where readable[index] {
                let (socket, actor) = inprocPublishers[position]
                while let frames = try socket.receive(dontWait: true) {
                    if let message = frames.first { handleSubscription(message, actor: actor, on: socket) }
                }
            }
            for (position, index) in inprocIndexes.enumerated() where readable[index] {
                var handled = 0
                let (socket, actor) = inprocRouters[position]
                while handled < 512, reloading == nil, let frames = try socket.receive(dontWait: true) {
                    handle(frames, actor: actor, draining: draining, socket: position + 1)
                    handled += 1
                }
                flushHandoffs()
            }
            if readable[routerIndex] {
                var handled = 0
                while handled < 512, reloading == nil,
                    let received = try router.receive(
                        dontWait: true, properties: BrokerIOLoop.connectionProperties,
                        shared: BrokerIOLoop.sharedRequestFrames)
                {
                    handle(
                        received.frames, actor: received.properties[0] ?? "", draining: draining,
                        connection: received.sourceDescriptor, credential: received.properties[1])
                    handled += 1
                }
                flushHandoffs()
            }
            flushReadAudit()
        }
    }

    private func stopHelpers() throws(ZMQError) {
        flushReadAudit()  // the last reads, before the auditor stops
        auditRateLimited()  // the last aggregates, before the auditor stops
        auditRefusedHandshakes()
        auditOverflowedRejections(force: true)
        try auditorInbox.sendObject(RejectionAuditor.Message.stop)
        try readerInbox.sendObject(StoreReader.Message.stop)
        for socket in queryReaders { try socket.sendObject(QueryReader.Message.stop) }
    }

    // MARK: Sending

    func reply(_ target: ReplyTarget, _ kind: MessageKind, body: JSONValue) {
        send(target, WireMessage.replyFrames(kind, requestID: target.requestID, body: body))
    }

    func send(_ target: ReplyTarget, _ frames: [[UInt8]]) {
        do {
            let socket: ZMQSocket = target.socket == 0 ? router : inprocRouters[target.socket - 1].socket
            try socket.send(target.envelope, then: frames, dontWait: true)
        } catch {
            // The client went away (EHOSTUNREACH) or stopped reading (EAGAIN). Its work stands;
            // it can ask STATUS with its key.
            counters.unroutableReplies += 1
        }
    }

    func publish(_ events: [EncodedEvent]) {
        for event in events {
            send(event)
            advanceStream(to: event)
        }
    }

    func send(_ event: EncodedEvent) {
        do {
            try publisher.send(event.frames, dontWait: true)
            for (socket, _) in inprocPublishers { try? socket.send(event.frames, dontWait: true) }
            counters.eventsPublished += 1
        } catch {
            logger.warning("could not publish an event", metadata: ["stream": "\(event.stream)", "error": "\(error)"])
        }
    }

    func advanceStream(to event: EncodedEvent) {
        advanceStream(event.stream, to: StreamPosition(seq: event.seq, epoch: event.epoch))
    }

    func advanceStream(_ stream: String, to position: StreamPosition) {
        if position.seq > (streams[stream]?.seq ?? 0) { streams[stream] = (position.seq, position.epoch) }
    }

    /// Copies the counters to the Prometheus metrics (once per heartbeat: nothing per request).
    private func publishMetrics() {
        guard let metrics else { return }
        var databases: [String: BrokerMetrics.DatabaseFigures] = [:]
        for lane in lanes.values where lane.inbox != nil {
            databases[lane.name] = BrokerMetrics.DatabaseFigures(
                lastSeq: streams[lane.name]?.seq ?? 0, queued: lane.queued, queuedBytes: lane.queuedBytes,
                batches: lane.batches, batchedCommands: lane.batchedCommands)
        }
        metrics.publish(
            BrokerMetrics.Snapshot(
                counters: counters, actors: actorCounters, databases: databases, parkedQueries: parkedQueries.count,
                queries: Dictionary(uniqueKeysWithValues: queryStats.map { ($0.key.description, $0.value) }),
                cachedResults: queryCache.count))
    }

    private func publishHeartbeat() {
        for lane in lanes.values { releaseAnsweredOutcomes(of: lane) }
        publishMetrics()
        if !rateLimitedSinceAudit.isEmpty { auditRateLimited() }
        auditRefusedHandshakes()
        auditOverflowedRejections()
        heartbeatSeq += 1
        var state: [String: JSONValue] = [:]
        // (A stream whose position is not known yet — a PostgreSQL database whose server the
        // broker has not reached — is left out rather than announced with a wrong epoch.)
        for (name, stream) in streams where !stream.epoch.isEmpty {
            state[name] = ["seq": .int(stream.seq), "epoch": .string(stream.epoch)]
        }
        let body: JSONValue = ["broker_epoch": .string(brokerEpoch), "streams": .object(state)]
        let event = Event(topic: Topic.heartbeat, stream: "hb", seq: heartbeatSeq, epoch: brokerEpoch, body: body)
        let frames = event.frames()
        try? publisher.send(frames, dontWait: true)
        for (socket, _) in inprocPublishers { try? socket.send(frames, dontWait: true) }
    }

    // MARK: Writer and reader answers

    /// What the I/O thread reads of each request's connection: the identity the ZAP handler
    /// gave it, and the credential it proved.
    static let connectionProperties = ["User-Id", ZAPAuthenticator.credentialProperty]

    /// A request's fixed frames (the protocol tag, the request kinds): received as these shared
    /// arrays rather than copied per message.
    static let sharedRequestFrames: [[UInt8]] =
        [WireMessage.protocolTag, CommandRequest.kindFrame, Array(MessageKind.query.rawValue.utf8)]
        + MessageKind.requests.subtracting([.command, .query]).map { Array($0.rawValue.utf8) }
        .sorted { $0.lexicographicallyPrecedes($1) }

    func answer(_ outcomes: [CommandOutcome]) {
        let now = Clock.monotonicNanoseconds()
        // Per database (a batch comes from one writer, so almost always one: found by a string
        // comparison, not a hash per command): the queue counts, settled once, and what the
        // batch changed, for the query cache, invalidated once.
        var databases: [AnsweredDatabase] = []
        var current = 0
        // The newest position, for the heartbeat: once per batch, not per command (a command's
        // events may not have been encoded: no subscriber asked for them, ``EventDemand``).
        var newest: (stream: String, position: StreamPosition)?
        for outcome in outcomes {
            guard let pending = pendingCommands.removeValue(forKey: outcome.token) else { continue }
            inFlight.removeValue(forKey: pending.key)
            let failed = if case .failed = outcome.result { true } else { false }
            BrokerIOLoop.count(
                &actorCounters[pending.command.actor, default: ActorCounters()],
                latencyMs: Double(now - pending.receivedAt) / 1e6, failed: failed)
            if current >= databases.count || databases[current].name != pending.database {
                if let known = databases.firstIndex(where: { $0.name == pending.database }) {
                    current = known
                } else {
                    current = databases.count
                    databases.append(AnsweredDatabase(name: pending.database))
                }
            }
            databases[current].commands += 1
            databases[current].bytes += pending.bytes
            switch outcome.result {
            case .committed(let ack):
                if ack.duplicate { counters.duplicates += 1 } else { counters.committed += 1 }
                logger.trace(
                    "command answered",
                    metadata: requestMetadata(
                        pending.primary, kind: .command,
                        extra: ["db": "\(pending.database)", "seq": "\(ack.seq)", "duplicate": "\(ack.duplicate)"]))
                send(pending.primary, outcome.reply)
                if !outcome.changedTables.isEmpty || outcome.changedUnnamedRows {
                    databases[current].changed = true
                    // Commands of one contract change the same tables: hashed once per run of them.
                    if outcome.changedTables != databases[current].lastTables {
                        databases[current].tables.formUnion(outcome.changedTables)
                        databases[current].lastTables = outcome.changedTables
                    }
                    databases[current].everything = databases[current].everything || outcome.changedUnnamedRows
                }
                var shared = ack
                shared.duplicate = true
                for waiter in pending.waiters { reply(waiter, .ack, body: shared.json) }
            case .failed(let error):
                counters.failed += 1
                send(pending.primary, outcome.reply)
                for waiter in pending.waiters { reply(waiter, .error, body: error.json) }
                if outcome.position == nil {
                    // Refused by the writer without running (not in the log, so not on audit.<db>).
                    auditRejection(
                        error, target: pending.primary, kind: .command, contract: pending.contract.description,
                        idempotencyKey: pending.command.request.idempotencyKey, database: pending.database)
                }
            }
            for event in outcome.events { send(event) }
            if let position = outcome.position {
                if let last = newest, last.stream != pending.database { advanceStream(last.stream, to: last.position) }
                newest = (pending.database, position)
            }
        }
        if let newest { advanceStream(newest.stream, to: newest.position) }
        for database in databases {
            let lane = lane(database.name)
            lane.queued -= database.commands
            lane.queuedBytes -= database.bytes
        }
        for database in databases where database.changed {
            invalidateCache(database: database.name, tables: database.tables, everything: database.everything)
            refreshProjections(source: database.name, tables: database.tables, everything: database.everything)
        }
    }

    /// What ``answer(_:)`` gathers for one database of a batch.
    struct AnsweredDatabase {
        let name: String
        var commands = 0
        var bytes = 0
        /// Whether a command changed anything (``tables``, or rows of unnamed tables: ``everything``).
        var changed = false
        var tables: Set<String> = []
        /// The tables last added to `tables`.
        var lastTables: [String] = []
        var everything = false
    }

    /// What a pending `STATUS` or `SYNC` asked, for its read-audit record once answered.
    struct PendingReadAudit {
        var kind: String
        var receivedAt: UInt64
        var body: JSONValue
        var database: String?
        var topic: String?
    }

    func auditRead(token: UInt64, target: ReplyTarget, status: String) {
        guard let pending = pendingReadAudits.removeValue(forKey: token) else { return }
        recordRead(
            target, kind: pending.kind, receivedAt: pending.receivedAt, parameters: pending.body,
            database: pending.database, topic: pending.topic, status: status)
    }

    /// One answered command in its actor's counters, no longer in flight (modified in place: one lookup).
    private static func count(_ counters: inout ActorCounters, latencyMs: Double, failed: Bool) {
        counters.commandsInFlight -= 1
        counters.latencyMsSum += latencyMs
        counters.latencyCount += 1
        if failed { counters.failed += 1 }
    }

    private func answerStatus(token: UInt64, _ status: Result<CommandStatus, WireError>) {
        guard let target = pendingReads.removeValue(forKey: token) else { return }
        switch status {
        case .success: auditRead(token: token, target: target, status: "ok")
        case .failure(let error): auditRead(token: token, target: target, status: error.code.rawValue)
        }
        switch status {
        case .success(let status): reply(target, .statusReply, body: status.json)
        case .failure(let error): reject(target, error, kind: .status)
        }
    }
}

/// What a reload did: what is served now, what was before, whether a removed plugin's data was
/// purged, and why the new set was refused (nil when it serves).
struct Reloaded {
    var served: ServedSet
    var previous: ContractRegistry
    var purged = false
    var error: (any Error)?
}

/// What the I/O thread serves: the registry, what its query contracts and projections read, the
/// database files, and every stream's position. Made by ``Broker`` at start and by a reload.
struct ServedSet: Sendable {
    var registry: ContractRegistry
    var queryRegions: [ContractID: DatabaseRegion] = [:]
    var projections = ProjectionStart()
    var databaseFiles: [URL] = []
    var streams: [String: (seq: Int64, epoch: String)] = [:]
}
