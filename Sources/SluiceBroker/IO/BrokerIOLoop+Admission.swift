import Foundation
import Logging
import SluiceWire
import SluiceZMQ

extension BrokerIOLoop {
    /// The actor a request acts as: the name its connection authenticated with (PLAIN, judged by
    /// the ZAP handler), never anything written in the message.
    func actor(for target: ReplyTarget) -> String { target.actor }

    /// Handles one ROUTER message. Never throws: every problem becomes an ERROR to the sender.
    func handle(_ frames: [[UInt8]], actor: String, draining: Bool, socket: Int = 0) {
        counters.received += 1
        var (envelopeTarget, sluiceFrames, wellFormed) = ReplyTarget.split(frames)
        envelopeTarget.actor = actor
        envelopeTarget.socket = socket
        guard wellFormed else {
            counters.malformed += 1
            reject(
                envelopeTarget,
                WireError(
                    .invalidMessage,
                    "a request is [empty delimiter, \"SLU1\", kind, header, body]; the delimiter or tag is missing"),
                kind: nil
            )
            return
        }
        let message: WireMessage
        do {
            message = try WireMessage(frames: Array(sluiceFrames), limits: configuration.limits)
        } catch {
            counters.malformed += 1
            // The header may still name the request: echo it, so a DEALER client can match the ERROR.
            var target = envelopeTarget
            target.requestID = WireMessage.echoableRequestID(frames: Array(sluiceFrames), limits: configuration.limits)
            reject(target, error, kind: nil)
            return
        }
        var target = envelopeTarget
        do {
            // Every kind's request_id follows one rule; the kinds that require it check that too.
            target.requestID = try HeaderField.optionalRequestID(message.header, limits: configuration.limits)
            // For the audit of a refusal (a malformed context is refused by the kind's own parse).
            target.context = try? CallerContext.parse(message.header)
        } catch {
            counters.malformed += 1
            reject(envelopeTarget, error, kind: message.kind)
            return
        }
        if target.actor.isEmpty && message.kind != .ping {
            reject(
                target,
                WireError(
                    .unauthenticated,
                    "this connection's credentials were refused: connect with PLAIN username and token (the operator's token is <data-dir>/tokens/local.token)"
                ),
                kind: message.kind
            )
            return
        }
        if draining && message.kind != .ping {
            reject(
                target, WireError(.overloaded, "the broker is shutting down", retryAfterMs: 1000), kind: message.kind)
            return
        }
        switch message.kind {
        case .command: admitCommand(message, target: target, size: sluiceFrames.reduce(0) { $0 + $1.count })
        case .query: admitQuery(message, target: target)
        case .status: lookUpStatus(message, target: target)
        case .sync: startSync(message, target: target)
        case .compact: compact(message, target: target)
        case .hello: welcome(target: target)
        case .ping: reply(target, .pong, body: message.body)
        case .stats: reply(target, .statsReply, body: statistics(for: target.actor))
        default:
            counters.malformed += 1
            let known = MessageKind.requests.map(\.rawValue).sorted().joined(separator: ", ")
            reject(
                target,
                WireError(
                    .invalidMessage, "unknown message kind '\(message.kind.rawValue.prefix(32))'; requests are \(known)"
                ),
                kind: message.kind
            )
        }
    }

    private func admitCommand(_ message: WireMessage, target: ReplyTarget, size: Int) {
        let receivedAt = Clock.monotonicNanoseconds()
        let request: CommandRequest
        do {
            request = try CommandRequest(message, limits: configuration.limits)
        } catch {
            reject(target, error, kind: .command, header: message.header)
            return
        }
        guard let contract = registry[request.contract] else {
            reject(target, unknownContract(request.contract), kind: .command, request: request)
            return
        }
        guard contract.kind == .command else {
            reject(
                target, WireError(.invalidMessage, "\(contract.id) is a query contract; send it as QUERY"),
                kind: .command, request: request, database: contract.database
            )
            return
        }
        if let limit = contract.maxPayloadBytes {
            let size = request.payload.canonicalBytes().count
            if size > limit {
                reject(
                    target,
                    WireError(
                        .payloadTooLarge, "input is \(size) bytes; \(contract.id) accepts at most \(limit)",
                        details: ["part": "body", "size": .int(Int64(size)), "limit": .int(Int64(limit))]
                    ),
                    kind: .command, request: request, database: contract.database
                )
                return
            }
        }
        if let denial = capabilityDenial(actor: target.actor, contract: contract) {
            reject(target, denial, kind: .command, request: request, database: contract.database)
            return
        }
        guard contract.input.accepts(request.payload) else {
            reject(
                target, validationFailed(contract, request.payload, what: "input does"), kind: .command,
                request: request,
                database: contract.database
            )
            return
        }
        if let violation = ContractRunner.outOfRange(request.payload) {
            reject(target, outOfRange(violation), kind: .command, request: request, database: contract.database)
            return
        }
        let actor = actor(for: target)
        let key = InFlightKey(actor: actor, database: contract.database, key: request.idempotencyKey)
        if let token = inFlight[key], var pending = pendingCommands[token] {
            // Same key still queued: share the first command's outcome instead of running twice.
            guard pending.payload == request.payload, pending.contract == request.contract else {
                reject(
                    target,
                    WireError(
                        .idempotencyMismatch, "idempotency key is in flight with a different contract or payload"),
                    kind: .command, request: request, database: contract.database
                )
                return
            }
            counters.coalesced += 1
            pending.waiters.append(target)
            pendingCommands[token] = pending
            return
        }
        let queued = queuedPerDatabase[contract.database, default: 0]
        let queuedBytes = queuedBytesPerDatabase[contract.database, default: 0]
        guard queued < configuration.maxQueuedCommandsPerDatabase,
            queued == 0 || queuedBytes + size <= configuration.maxQueuedBytesPerDatabase,
            writerInboxes[contract.database] != nil
        else {
            reject(
                target,
                WireError(
                    .overloaded, "\(queued) commands (\(queuedBytes) bytes) are queued for \(contract.database)",
                    retryAfterMs: 100, details: ["queued": .int(Int64(queued)), "queued_bytes": .int(Int64(queuedBytes))]),
                kind: .command, request: request, database: contract.database
            )
            return
        }
        let token = nextToken
        nextToken += 1
        if let limited = admitUnderLimits(actor: actor, now: receivedAt) {
            reject(target, limited, kind: .command, request: request, database: contract.database)
            return
        }
        // Commands without a deadline of their own get the contract's timeout, else the plugin's.
        let deadlineMs = request.deadlineMs ?? contract.timeoutMs ?? registry.plugins[actor]?.limits.timeoutMs
        let deadline = deadlineMs.map { receivedAt + UInt64($0) * 1_000_000 }
        let now = Clock.now()
        let command = AdmittedCommand(
            token: token, actor: actor, request: request, contract: contract, timestamp: now.text,
            admittedMs: now.milliseconds, generatedID: RandomIdentifier.uuid(using: &randomSource), receivedAt: receivedAt,
            deadline: deadline
        )
        // Handed to the writer with the others admitted in this pass (`flushHandoffs`).
        handoffs[contract.database, default: []].append(command)
        counters.admitted += 1
        actorCounters[actor, default: ActorCounters()].commands += 1
        inFlightPerActor[actor, default: 0] += 1
        inFlight[key] = token
        pendingCommands[token] = PendingCommand(
            primary: target, key: key, receivedAt: receivedAt, contract: request.contract, payload: request.payload,
            database: contract.database, bytes: size
        )
        queuedPerDatabase[contract.database] = queued + 1
        queuedBytesPerDatabase[contract.database] = queuedBytes + size
    }

    /// Hands every command admitted since the last call to its writer, one message per database:
    /// one wake-up and one hand-over per batch instead of per command. A writer that cannot take
    /// them (it stopped) fails them like an uncommitted batch.
    func flushHandoffs() {
        guard !handoffs.isEmpty else { return }
        for (database, commands) in handoffs {
            do {
                // (Admission checked that the database has a writer.)
                try writerInboxes[database]?.sendObject(WriterMessage.commands(commands))
            } catch {
                logger.error("could not hand commands to their writer", metadata: ["db": "\(database)", "error": "\(error)"])
                let failure = WireError(.internal, "the writer for \(database) is unavailable")
                answer(
                    commands.map {
                        CommandOutcome(token: $0.token, requestID: $0.request.requestID, result: .failed(failure), events: [])
                    })
            }
        }
        handoffs.removeAll(keepingCapacity: true)
    }

    /// `unknown_contract`, naming the versions of that name that do exist.
    func unknownContract(_ id: ContractID) -> WireError {
        let versions = registry.versions(of: id.name)
        let hint =
            versions.isEmpty ? "no contract has that name" : "versions that exist: \(versions.joined(separator: ", "))"
        return WireError(
            .unknownContract, "unknown contract \(id); \(hint)",
            details: ["contract": .string(id.description), "versions": .array(versions.map(JSONValue.string))]
        )
    }

    /// `validation_failed`, with every violation of `contract`'s input schema by `value`;
    /// `what` begins the message ("input does", "parameters do").
    func outOfRange(_ violation: InputSchema.Violation) -> WireError {
        WireError(
            .validationFailed, "a number SQLite cannot store: \(violation)", details: ["violations": [violation.json]])
    }

    /// At most this many violations are listed in a `validation_failed` reply (the count says how
    /// many there were), so an input built to break every rule gets a reply of bounded size.
    static let maximumListedViolations = 100

    func validationFailed(_ contract: Contract, _ value: JSONValue, what: String) -> WireError {
        let violations = contract.input.violations(of: value)
        let listed = violations.prefix(BrokerIOLoop.maximumListedViolations)
        let more = violations.count > listed.count ? "; … \(violations.count - listed.count) more" : ""
        return WireError(
            .validationFailed,
            "\(what) not match \(contract.id): " + listed.map(\.description).joined(separator: "; ") + more,
            details: ["violations": .array(listed.map(\.json)), "violation_count": .int(Int64(violations.count))]
        )
    }

    /// Why `actor` may not run `contract`, or nil. The operator (`local`) holds every
    /// capability; a plugin holds those its manifest declares; a contract without a capability is
    /// the operator's alone.
    func capabilityDenial(actor: String, contract: Contract) -> WireError? {
        if actor == TokenStore.operatorName { return nil }
        let details: [String: JSONValue] = [
            "contract": .string(contract.id.description),
            "capability": contract.capability.map(JSONValue.string) ?? .null,
        ]
        guard let capability = contract.capability else {
            return WireError(
                .capabilityDenied, "\(contract.id) declares no capability: only the operator may run it",
                details: details)
        }
        guard let plugin = registry.plugins[actor] else {
            return WireError(.capabilityDenied, "'\(actor)' is not an installed plugin", details: details)
        }
        guard plugin.capabilities.contains(capability) else {
            return WireError(
                .capabilityDenied, "plugin \(actor) lacks capability \(capability), which \(contract.id) requires",
                details: details
            )
        }
        return nil
    }

    /// Applies the actor's manifest limits: commands in flight, and a token bucket for the rate.
    func admitUnderLimits(actor: String, now: UInt64) -> WireError? {
        guard let limits = registry.plugins[actor]?.limits else { return nil }
        if let maximum = limits.maxInFlight, inFlightPerActor[actor, default: 0] >= maximum {
            return WireError(
                .rateLimited, "plugin \(actor) has \(maximum) commands in flight, its max_in_flight", retryAfterMs: 10,
                details: ["limit": "max_in_flight", "value": .int(Int64(maximum))]
            )
        }
        if let rate = limits.ratePerSecond, let wait = BrokerIOLoop.take(from: &rateBuckets, actor, rate: rate, now: now) {
            return WireError(
                .rateLimited, "plugin \(actor) exceeds its rate of \(rate) commands/s", retryAfterMs: wait,
                details: ["limit": "rate_per_second", "value": .double(rate)]
            )
        }
        return nil
    }

    /// The same for queries: queries in flight (`max_queries_in_flight`) and their rate
    /// (`query_rate_per_second`), so a plugin's reads cannot crowd out everyone's readers.
    func admitQueryUnderLimits(actor: String, now: UInt64) -> WireError? {
        guard let limits = registry.plugins[actor]?.limits else { return nil }
        if let maximum = limits.maxQueriesInFlight, queriesInFlightPerActor[actor, default: 0] >= maximum {
            return WireError(
                .rateLimited, "plugin \(actor) has \(maximum) queries in flight, its max_queries_in_flight",
                retryAfterMs: 10, details: ["limit": "max_queries_in_flight", "value": .int(Int64(maximum))]
            )
        }
        if let rate = limits.queryRatePerSecond,
            let wait = BrokerIOLoop.take(from: &queryRateBuckets, actor, rate: rate, now: now)
        {
            return WireError(
                .rateLimited, "plugin \(actor) exceeds its rate of \(rate) queries/s", retryAfterMs: wait,
                details: ["limit": "query_rate_per_second", "value": .double(rate)]
            )
        }
        return nil
    }

    /// Takes one token from `actor`'s bucket (refilled at `rate` per second, holding one second's
    /// worth and at least one token, so a rate below 1/s still lets one through now and then);
    /// nil when there was one, else the milliseconds until there will be.
    static func take(
        from buckets: inout [String: (tokens: Double, refilledAt: UInt64)], _ actor: String, rate: Double, now: UInt64
    ) -> Int? {
        let capacity = max(1, rate)
        var bucket = buckets[actor] ?? (tokens: capacity, refilledAt: now)
        bucket.tokens = min(capacity, bucket.tokens + Double(now - bucket.refilledAt) / 1e9 * rate)
        bucket.refilledAt = now
        defer { buckets[actor] = bucket }
        guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / rate * 1000).rounded(.up))) }
        bucket.tokens -= 1
        return nil
    }

    /// Audits the rate-limited requests counted since the last heartbeat, one record per identity.
    func auditRateLimited() {
        for (actor, count) in rateLimitedSinceAudit.sorted(by: { $0.key < $1.key }) {
            let record: [String: JSONValue] = [
                "ts": .string(Clock.timestamp()), "actor": .string(actor), "status": "rejected", "code": "rate_limited",
                "message": .string("\(count) request(s) refused by the rate or in-flight limit since the last record"),
                "count": .int(Int64(count)),
            ]
            sendToAuditor(record)
        }
        rateLimitedSinceAudit.removeAll()
    }

    /// Audits the handshakes refused since the last heartbeat, one record per presented name.
    func auditRefusedHandshakes() {
        let refused = handshakeRefusals.take()
        guard !refused.isEmpty else { return }
        for (name, count) in refused.sorted(by: { $0.key < $1.key }) {
            counters.refusedHandshakes += count
            let record: [String: JSONValue] = [
                "ts": .string(Clock.timestamp()), "actor": "(unauthenticated)", "status": "rejected",
                "code": "unauthenticated", "name": .string(name), "count": .int(count),
                "message": .string(
                    "\(count) connection(s) presenting '\(name)' refused at the handshake since the last record"),
            ]
            sendToAuditor(record)
        }
        logger.notice(
            "credentials refused at the handshake",
            metadata: ["names": "\(refused.keys.sorted().joined(separator: ","))", "count": "\(refused.values.reduce(0, +))"])
    }

    private func lookUpStatus(_ message: WireMessage, target: ReplyTarget) {
        do {
            _ = try HeaderField.requestID(message.header, limits: configuration.limits)
        } catch {
            reject(target, error, kind: .status)
            return
        }
        guard let key = message.body["idempotency_key"]?.stringValue, !key.isEmpty else {
            reject(target, WireError(.invalidMessage, "STATUS body needs idempotency_key (a string)"), kind: .status)
            return
        }
        let database = message.body["db"]?.stringValue
        if let database, !registry.databases.contains(database) {
            reject(target, WireError(.invalidMessage, "no database named '\(database.prefix(64))'"), kind: .status)
            return
        }
        let actor = actor(for: target)
        let inFlightHere =
            if let database {
                inFlight[InFlightKey(actor: actor, database: database, key: key)] != nil
            } else {
                inFlight.keys.contains { $0.actor == actor && $0.key == key }
            }
        if inFlightHere {
            reply(target, .statusReply, body: CommandStatus.inFlight.json)
            return
        }
        let token = nextToken
        nextToken += 1
        do {
            try readerInbox.sendObject(
                StoreReader.Message.lookup(.init(token: token, actor: actor, key: key, database: database)),
                dontWait: true)
            pendingReads[token] = target
        } catch {
            reject(target, WireError(.internal, "the store reader is unavailable"), kind: .status)
        }
    }

    private func startSync(_ message: WireMessage, target: ReplyTarget) {
        let request: SyncRequest
        do {
            request = try SyncRequest(message, limits: configuration.limits)
        } catch {
            reject(target, error, kind: .sync)
            return
        }
        guard let stream = stream(ofTopic: request.topic) else {
            let topics = registry.databases.flatMap { [Topic.audit($0), Topic.invalidation($0)] } + [Topic.rejected]
            reject(
                target,
                WireError(
                    .invalidMessage, "no stored stream for topic '\(request.topic.prefix(64))'",
                    details: ["topics": .array(topics.map(JSONValue.string))]
                ),
                kind: .sync
            )
            return
        }
        if let denial = streamReadDenial(actor: target.actor, topic: request.topic, stream: stream) {
            reject(target, denial, kind: .sync)
            return
        }
        counters.syncRequests += 1
        let token = nextToken
        nextToken += 1
        let page = StoreReader.SyncPage(
            token: token, requestID: target.requestID ?? "", request: request, stream: stream,
            onlyActor: syncFilter(actor: target.actor, stream: stream))
        do {
            try readerInbox.sendObject(StoreReader.Message.sync(page))
            pendingReads[token] = target
        } catch {
            reject(target, WireError(.internal, "the store reader is unavailable"), kind: .sync)
        }
    }

    private func compact(_ message: WireMessage, target: ReplyTarget) {
        if let denial = administrativeDenial(actor: target.actor, kind: .compact) {
            reject(target, denial, kind: .compact)
            return
        }
        guard let database = message.body["db"]?.stringValue, let inbox = writerInboxes[database] else {
            reject(
                target,
                WireError(
                    .invalidMessage, "COMPACT body needs db, one of \(registry.databases.joined(separator: ", "))"),
                kind: .compact
            )
            return
        }
        let keep = message.body["keep"]?.intValue ?? 10_000
        guard keep >= 0 else {
            reject(target, WireError(.invalidMessage, "COMPACT keep must be ≥ 0"), kind: .compact)
            return
        }
        let token = nextToken
        nextToken += 1
        flushHandoffs()  // the compaction runs after the commands admitted before it
        do {
            try inbox.sendObject(WriterMessage.compact(token: token, keep: keep))
            pendingReads[token] = target
        } catch {
            reject(target, WireError(.internal, "the writer for \(database) is unavailable"), kind: .compact)
        }
    }

    /// The stream whose history a topic replays: `audit.<db>` and `inval.<db>` → `<db>`,
    /// `audit.rejected` → `rejected`.
    func stream(ofTopic topic: String) -> String? {
        if topic == Topic.rejected { return RejectionAuditor.stream }
        for database in registry.databases where topic == Topic.audit(database) || topic == Topic.invalidation(database)
        {
            return database
        }
        return nil
    }

    private func welcome(target: ReplyTarget) {
        let body: JSONValue = [
            "protocol": .int(Int64(WireMessage.protocolVersion)),
            "broker_epoch": .string(brokerEpoch),
            "actor": .string(actor(for: target)),
            "limits": configuration.limits.json,
            "databases": .array(registry.databases.map(JSONValue.string)),
            "contracts": .array(
                registry.contracts.keys.map { JSONValue.string($0.description) }.sorted {
                    $0.description < $1.description
                }),
        ]
        reply(target, .welcome, body: body)
    }

    func statistics() -> JSONValue {
        var body = counters.json.objectValue ?? [:]
        body["queued"] = .object(queuedPerDatabase.mapValues { .int(Int64($0)) })
        body["in_flight_keys"] = .int(Int64(inFlight.count))
        body["queries"] = queryStatistics
        body["actors"] = .object(actorCounters.mapValues(\.json))
        body["cached_results"] = .int(Int64(queryCache.count))
        body["cached_result_bytes"] = .int(Int64(queryCacheBytes))
        body["queued_bytes"] = .object(queuedBytesPerDatabase.mapValues { .int(Int64($0)) })
        if !registry.projections.isEmpty {
            body["projections"] = projectionStatistics
            body["parked_queries"] = .int(Int64(parkedQueries.count))
        }
        return .object(body)
    }

    /// Answers `error` and records the refusal in audit.db (published on `audit.rejected`).
    func reject(
        _ target: ReplyTarget, _ error: WireError, kind: MessageKind?, request: CommandRequest? = nil,
        header: [String: JSONValue]? = nil, database: String? = nil
    ) {
        counters.rejected += 1
        if !target.actor.isEmpty { actorCounters[target.actor, default: ActorCounters()].rejected += 1 }
        reply(target, .error, body: error.json)
        // A flood is audited in aggregate (one record per identity per heartbeat, with the count):
        // recording each refused request would let a flooding plugin load the audit database.
        if error.code == .rateLimited {
            rateLimitedSinceAudit[target.actor, default: 0] += 1
            return
        }
        var contract: String?
        var idempotencyKey: String?
        if let request {
            contract = request.contract.description
            idempotencyKey = request.idempotencyKey
        } else if let header {
            contract = header["contract"]?.stringValue.map { String($0.prefix(128)) }
            idempotencyKey = header["idempotency_key"]?.stringValue.map { String($0.prefix(255)) }
        }
        auditRejection(
            error, target: target, kind: kind, contract: contract, idempotencyKey: idempotencyKey, database: database)
    }

    /// Records one refused request in audit.db (published on `audit.rejected`): a request refused
    /// at admission, or a command its writer refused without running it (a key reused with
    /// another payload, a deadline passed in the queue) — those never reach the command log.
    func auditRejection(
        _ error: WireError, target: ReplyTarget, kind: MessageKind?, contract: String?, idempotencyKey: String?,
        database: String?
    ) {
        var record: [String: JSONValue] = [
            "ts": .string(Clock.timestamp()),
            "actor": .string(target.actor.isEmpty ? "(unauthenticated)" : target.actor),
            "status": "rejected",
            "code": .string(error.code.rawValue),
            "message": .string(String(error.message.prefix(500))),
        ]
        if let kind { record["kind"] = .string(String(kind.rawValue.prefix(32))) }
        if let requestID = target.requestID { record["request_id"] = .string(requestID) }
        if let contract { record["contract"] = .string(contract) }
        if let idempotencyKey { record["idempotency_key"] = .string(idempotencyKey) }
        if let database { record["db"] = .string(database) }
        if let tenant = target.context?.tenant { record["tenant"] = .string(tenant) }
        if let traceparent = target.context?.traceparent { record["traceparent"] = .string(traceparent) }
        guard rejectionBacklog < configuration.maxRejectionBacklog else {
            overflowedRejections[RejectionKind(actor: target.actor, code: error.code.rawValue), default: 0] += 1
            return
        }
        sendToAuditor(record)
    }

    /// Hands one record to the rejection auditor, counting it in the backlog.
    func sendToAuditor(_ record: [String: JSONValue]) {
        do {
            try auditorInbox.sendObject(RejectionAuditor.Message.record(record))
            rejectionBacklog += 1
        } catch {
            logger.warning("could not hand a rejection to the auditor", metadata: ["error": "\(error)"])
        }
    }

    /// Audits the refusals counted while the auditor was behind, one record per (actor, code),
    /// once its backlog is low again (or at shutdown).
    func auditOverflowedRejections(force: Bool = false) {
        guard !overflowedRejections.isEmpty,
            force || rejectionBacklog <= configuration.maxRejectionBacklog / 2
        else { return }
        for (kind, count) in overflowedRejections.sorted(by: { ($0.key.actor, $0.key.code) < ($1.key.actor, $1.key.code) }) {
            sendToAuditor([
                "ts": .string(Clock.timestamp()), "actor": .string(kind.actor.isEmpty ? "(unauthenticated)" : kind.actor),
                "status": "rejected", "code": .string(kind.code), "count": .int(Int64(count)),
                "message": .string("\(count) request(s) refused while the audit was behind, recorded in aggregate"),
            ])
        }
        overflowedRejections.removeAll()
    }
}
