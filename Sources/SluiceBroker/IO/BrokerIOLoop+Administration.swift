import Foundation
import Logging
import SluiceWire
import SluiceZMQ

/// `STATUS`, `SYNC`, `COMPACT`, `HELLO` and `STATS`: the requests that are not commands or queries.
extension BrokerIOLoop {
    func lookUpStatus(_ message: WireMessage, target: ReplyTarget) {
        let receivedAt = Clock.monotonicNanoseconds()
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
            recordRead(
                target, kind: "status", receivedAt: receivedAt, parameters: message.body, database: database, status: "ok")
            return
        }
        let token = nextToken
        nextToken += 1
        do {
            try readerInbox.sendObject(
                StoreReader.Message.lookup(.init(token: token, actor: actor, key: key, database: database)),
                dontWait: true)
            pendingReads[token] = target
            pendingReadAudits[token] = PendingReadAudit(
                kind: "status", receivedAt: receivedAt, body: message.body, database: database)
        } catch {
            reject(target, WireError(.internal, "the store reader is unavailable"), kind: .status)
        }
    }

    func startSync(_ message: WireMessage, target: ReplyTarget) {
        let receivedAt = Clock.monotonicNanoseconds()
        let request: SyncRequest
        do {
            request = try SyncRequest(message, limits: configuration.limits)
        } catch {
            reject(target, error, kind: .sync)
            return
        }
        guard let stream = stream(ofTopic: request.topic) else {
            let topics =
                registry.databases.flatMap { [Topic.audit($0), Topic.invalidation($0)] } + [Topic.rejected, Topic.lifecycle]
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
            pendingReadAudits[token] = PendingReadAudit(
                kind: "sync", receivedAt: receivedAt, body: message.body,
                database: registry.databases.contains(stream) ? stream : nil, topic: request.topic)
        } catch {
            reject(target, WireError(.internal, "the store reader is unavailable"), kind: .sync)
        }
    }

    func compact(_ message: WireMessage, target: ReplyTarget) {
        if let denial = administrativeDenial(actor: target.actor, kind: .compact) {
            reject(target, denial, kind: .compact)
            return
        }
        guard let database = message.body["db"]?.stringValue, let inbox = lanes[database]?.inbox else {
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
        if topic == Topic.lifecycle { return RejectionAuditor.lifecycleStream }
        for database in registry.databases where topic == Topic.audit(database) || topic == Topic.invalidation(database)
        {
            return database
        }
        return nil
    }

    func welcome(target: ReplyTarget) {
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
        body["queued"] = .object(lanes.mapValues { .int(Int64($0.queued)) })
        body["in_flight_keys"] = .int(Int64(inFlight.count))
        body["queries"] = queryStatistics
        body["actors"] = .object(actorCounters.mapValues(\.json))
        body["cached_results"] = .int(Int64(queryCache.count))
        body["cached_result_bytes"] = .int(Int64(queryCacheBytes))
        body["queued_bytes"] = .object(lanes.mapValues { .int(Int64($0.queuedBytes)) })
        body["batches"] = .object(lanes.mapValues { .int($0.batches) })
        body["batched_commands"] = .object(lanes.mapValues { .int($0.batchedCommands) })
        if !registry.projections.isEmpty {
            body["projections"] = projectionStatistics
            body["parked_queries"] = .int(Int64(parkedQueries.count))
        }
        return .object(body)
    }
}
