import Foundation
import Logging
import SluiceWire
import SluiceZMQ

/// Refusing a request: the `ERROR` to its sender and the record on `audit.rejected`.
extension BrokerIOLoop {
    /// Answers `error` and records the refusal in audit.db (published on `audit.rejected`).
    func reject(
        _ target: ReplyTarget, _ error: WireError, kind: MessageKind?, request: CommandRequest? = nil,
        header: JSONObject? = nil, database: String? = nil
    ) {
        counters.rejected += 1
        if !target.actor.isEmpty { actorCounters[target.actor, default: ActorCounters()].rejected += 1 }
        // With the caller's context, so one action can be followed across plugins in the logs too
        // (the metadata is built only when debug logging is on). Logged before the answer leaves.
        logger.debug(
            "request refused",
            metadata: requestMetadata(target, kind: kind, extra: ["code": "\(error.code.rawValue)"]))
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

    /// A request's identity for a log line: actor, kind, request id and the caller's context
    /// (`traceparent`, `tenant`) when it sent one.
    func requestMetadata(_ target: ReplyTarget, kind: MessageKind?, extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = extra
        metadata["actor"] = "\(target.actor)"
        if let kind { metadata["kind"] = "\(kind.rawValue)" }
        if let requestID = target.requestID { metadata["request_id"] = "\(requestID)" }
        if let traceparent = target.context?.traceparent { metadata["traceparent"] = "\(traceparent)" }
        if let tenant = target.context?.tenant { metadata["tenant"] = "\(tenant)" }
        return metadata
    }
}
