import Foundation
import Logging
import SluiceWire
import SluiceZMQ

extension BrokerIOLoop {
    /// The actor a request acts as: the name its connection authenticated with (PLAIN, judged by
    /// the ZAP handler), never anything written in the message.
    func actor(for target: ReplyTarget) -> String { target.actor }

    /// Handles one ROUTER message. Never throws: every problem becomes an ERROR to the sender.
    func handle(
        _ frames: [[UInt8]], actor: String, draining: Bool, socket: Int = 0, connection: Int32 = -1,
        credential: String? = nil
    ) {
        counters.received += 1
        var (envelopeTarget, sluiceFrames, wellFormed) = ReplyTarget.split(frames)
        envelopeTarget.actor = actor
        envelopeTarget.socket = socket
        envelopeTarget.connection = connection
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
        let size = sluiceFrames.reduce(0) { $0 + $1.count }
        // A COMMAND as the clients write it (most requests are) is read in one pass over its
        // header's bytes; anything else, and every request that is wrong, takes the general
        // reading below, which names what is wrong.
        if let request = CommandRequest(plainFrames: sluiceFrames, limits: configuration.limits) {
            var target = envelopeTarget
            target.requestID = request.requestID
            guard admissible(target, kind: .command, draining: draining, credential: credential) else { return }
            admitCommand(request, target: target, size: size)
            return
        }
        let message: WireMessage
        do {
            message = try WireMessage(frames: sluiceFrames, limits: configuration.limits)
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
        guard admissible(target, kind: message.kind, draining: draining, credential: credential) else { return }
        switch message.kind {
        case .command:
            let request: CommandRequest
            do {
                request = try CommandRequest(message, limits: configuration.limits)
            } catch {
                reject(target, error, kind: .command, header: message.header)
                return
            }
            admitCommand(request, target: target, size: size)
        case .query: admitQuery(message, target: target)
        case .status: lookUpStatus(message, target: target)
        case .sync: startSync(message, target: target)
        case .compact: compact(message, target: target)
        case .hello: welcome(target: target)
        case .ping: reply(target, .pong, body: message.body)
        case .stats: reply(target, .statsReply, body: statistics(for: target.actor))
        case .reload: beginReload(message, target: target)
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

    /// Whether the connection may send `kind` now: its credentials were accepted and still hold,
    /// and the broker is not shutting down (a PING is answered either way). Refuses it otherwise.
    private func admissible(_ target: ReplyTarget, kind: MessageKind, draining: Bool, credential: String?) -> Bool {
        if target.actor.isEmpty && kind != .ping {
            reject(
                target,
                WireError(
                    .unauthenticated,
                    "this connection's credentials were refused: connect with PLAIN username and token (the operator's token is <data-dir>/tokens/local.token)"
                ),
                kind: kind
            )
            return false
        }
        if credentials?.stillHolds(actor: target.actor, credential: credential) == false {
            reject(
                target,
                WireError(
                    .unauthenticated,
                    "the credentials of this connection were revoked after it connected (token rotated, plugin disabled or removed, or CURVE key revoked); connect again with current ones"
                ),
                kind: kind
            )
            return false
        }
        if draining && kind != .ping {
            reject(
                target, WireError(.overloaded, "the broker is shutting down", retryAfterMs: 1000), kind: kind)
            return false
        }
        return true
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
        capabilityDenial(actor: actor, plugin: registry.plugins[actor], contract: contract)
    }

    /// The same, with the actor's plugin (nil: not installed) already looked up.
    func capabilityDenial(actor: String, plugin: PluginManifest?, contract: Contract) -> WireError? {
        if actor == TokenStore.operatorName { return nil }
        // Built only for a refusal (this runs for every command).
        var details: [String: JSONValue] {
            ["contract": .string(contract.id.description), "capability": contract.capability.map(JSONValue.string) ?? .null]
        }
        guard let capability = contract.capability else {
            return WireError(
                .capabilityDenied, "\(contract.id) declares no capability: only the operator may run it",
                details: details)
        }
        guard let plugin else {
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
    func admitUnderLimits(actor: String, limits: PluginManifest.Limits?, now: UInt64) -> WireError? {
        guard let limits else { return nil }
        if let maximum = limits.maxInFlight, (actorCounters[actor]?.commandsInFlight ?? 0) >= maximum {
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
}
