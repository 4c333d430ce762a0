import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// The read path on the I/O thread: admission of `QUERY`s, the result cache, coalescing of
/// identical in-flight queries, and handing work to idle query readers.
extension BrokerIOLoop {
    /// A query being executed, and everyone waiting for its answer.
    struct QueryFlight {
        var contract: Contract
        var parameters: JSONValue
        var actor: String
        var limit: Int
        var deadline: UInt64
        var waiters: [Waiter]
        /// The token of its execution, once queued (``startQuery(_:)``).
        var token: UInt64 = 0
        /// Set when every waiter's connection has closed: the reader skips or interrupts it.
        var cancellation = ReadCancellation()

        func answered(_ waiter: Waiter, status: String) -> AnsweredRead {
            AnsweredRead(
                contract: contract, parameters: parameters, receivedAt: waiter.receivedAt, status: status,
                source: waiter.coalesced ? "coalesced" : "executed")
        }
    }

    /// A client waiting for a flight's answer, and what its snapshot must reflect.
    struct Waiter {
        var target: ReplyTarget
        var minSeq: Int64
        /// Projection → the source seq it must reflect.
        var needs: [String: Int64]
        /// Monotonic nanoseconds at admission (the read audit's latency).
        var receivedAt: UInt64 = 0
        /// Joined an identical query already in flight.
        var coalesced = false

        func isSatisfied(by seq: Int64, projectionSeqs: [String: Int64]) -> Bool {
            minSeq <= seq && needs.allSatisfy { (projectionSeqs[$0.key] ?? -1) >= $0.value }
        }
    }

    struct CachedResult {
        var body: [UInt8]
        var seq: Int64
        var projectionSeqs: [String: Int64]
        var database: String
        var contract: ContractID
        var expiresAt: UInt64
    }

    struct QueryCounters {
        var executions: Int64 = 0
        var hits: Int64 = 0
        var misses: Int64 = 0
        var coalesced: Int64 = 0
        var timeouts: Int64 = 0
        /// Dropped or interrupted because everyone waiting for the answer had gone.
        var cancelled: Int64 = 0

        var json: JSONValue {
            [
                "executions": .int(executions), "hits": .int(hits), "misses": .int(misses),
                "coalesced": .int(coalesced), "timeouts": .int(timeouts), "cancelled": .int(cancelled),
            ]
        }
    }

    static let maximumCachedResults = 10_000
    static let maximumQueuedQueries = 10_000

    func admitQuery(_ message: WireMessage, target: ReplyTarget) {
        let receivedAt = Clock.monotonicNanoseconds()
        let request: QueryRequest
        do {
            request = try QueryRequest(message, limits: configuration.limits)
        } catch {
            reject(target, error, kind: .query, header: message.header)
            return
        }
        guard let contract = registry[request.contract] else {
            reject(target, unknownContract(request.contract), kind: .query)
            return
        }
        guard contract.kind == .query else {
            reject(
                target, WireError(.invalidMessage, "\(contract.id) is a command contract; send it as COMMAND"),
                kind: .query)
            return
        }
        if let denial = capabilityDenial(actor: target.actor, contract: contract) {
            reject(target, denial, kind: .query, database: contract.database)
            return
        }
        guard contract.input.accepts(request.parameters) else {
            reject(
                target, validationFailed(contract, request.parameters, what: "parameters do"), kind: .query,
                database: contract.database
            )
            return
        }
        if let violation = ContractRunner.outOfRange(request.parameters) {
            reject(target, outOfRange(violation), kind: .query, database: contract.database)
            return
        }
        let needs: [String: Int64]
        do {
            needs = try projectionNeeds(request, contract)
        } catch {
            reject(target, error, kind: .query, header: message.header)
            return
        }
        // The asker's connection closed while the request waited in the socket: nobody is left
        // to answer (its monitor events are read first, so the state is current).
        connectionWatch?.drainRequestMonitor()
        if connectionWatch?.isClosed(target.connection) == true {
            queryStats[contract.id, default: QueryCounters()].cancelled += 1
            if contract.audit.reads {
                recordRead(
                    target, kind: "query", receivedAt: receivedAt, parameters: request.parameters,
                    database: contract.database, contract: contract.id.description, status: "cancelled")
            }
            return
        }
        if let denial = admitQueryUnderLimits(actor: target.actor, now: receivedAt) {
            reject(target, denial, kind: .query, database: contract.database)
            return
        }
        actorCounters[target.actor, default: ActorCounters()].queries += 1
        queriesInFlightPerActor[target.actor, default: 0] += 1
        guard unmet(needs).isEmpty else {
            let deadlineMs = request.deadlineMs ?? contract.timeoutMs ?? 5000
            park(
                ParkedQuery(
                    request: request, contract: contract, target: target, receivedAt: receivedAt,
                    deadline: receivedAt + UInt64(deadlineMs) * 1_000_000, needs: needs))
            return
        }
        runQuery(request, contract, target: target, receivedAt: receivedAt, needs: needs)
    }

    /// Answers an admitted query from the cache, joins it to an identical query in flight, or
    /// queues its execution.
    func runQuery(
        _ request: QueryRequest, _ contract: Contract, target: ReplyTarget, receivedAt: UInt64, needs: [String: Int64]
    ) {
        let limit = min(request.limit ?? contract.maxRows, contract.maxRows)
        var waiter = Waiter(
            target: target, minSeq: request.after[contract.database] ?? 0, needs: needs, receivedAt: receivedAt)
        let read = { (status: String, source: String) in
            AnsweredRead(
                contract: contract, parameters: request.parameters, receivedAt: receivedAt, status: status,
                source: source)
        }
        // Results that depend on who asks are cached per asker.
        let usesActor = contract.statements[0].parameters.contains("_actor")
        let key = "\(contract.id)\n\(limit)\n\(usesActor ? target.actor : "")\n\(request.parameters.canonicalString)"
        var counters = queryStats[contract.id, default: QueryCounters()]
        defer { queryStats[contract.id] = counters }

        if let cached = queryCache[key] {
            if cached.expiresAt > receivedAt, waiter.isSatisfied(by: cached.seq, projectionSeqs: cached.projectionSeqs) {
                counters.hits += 1
                send(target, WireMessage.replyFrames(.result, requestID: target.requestID, encodedBody: cached.body))
                queryAnswered(target, read("ok", "cache"))
                return
            }
            uncache(key)
        }
        if var flight = queryFlights[key] {
            counters.coalesced += 1
            waiter.coalesced = true
            flight.waiters.append(waiter)
            queryFlights[key] = flight
            return
        }
        guard queryQueue.count < BrokerIOLoop.maximumQueuedQueries else {
            reject(target, WireError(.overloaded, "too many queries are waiting", retryAfterMs: 50), kind: .query)
            queryAnswered(target, read("overloaded", "refused"))
            return
        }
        counters.misses += 1
        let deadlineMs = request.deadlineMs ?? contract.timeoutMs ?? 5000
        queryFlights[key] = QueryFlight(
            contract: contract, parameters: request.parameters, actor: target.actor, limit: limit,
            deadline: receivedAt + UInt64(deadlineMs) * 1_000_000, waiters: [waiter]
        )
        startQuery(key)
    }

    /// Queues the flight's execution; it runs as soon as a reader is idle.
    func startQuery(_ key: String) {
        guard var flight = queryFlights[key] else { return }
        let token = nextToken
        nextToken += 1
        queryTokens[token] = key
        flight.token = token
        queryFlights[key] = flight
        queryQueue.append(
            QueryReader.Job(
                token: token, contract: flight.contract, parameters: flight.parameters, actor: flight.actor,
                limit: flight.limit,
                deadline: flight.deadline,
                projections: (projectionsReadByQuery[flight.contract.id] ?? []).map(\.name),
                cancellation: flight.cancellation
            )
        )
        dispatchQueries()
    }

    /// The request connection on `descriptor` closed: its clients' queries have nobody to answer.
    /// Each leaves its flight (recorded `cancelled` in the read audit); a flight nobody else
    /// waits for is taken off the queue, or interrupted in its reader (``ReadCancellation``), and
    /// its answer ignored. Queries parked for a projection are dropped the same way.
    func cancelReads(ofConnection descriptor: Int32) {
        let isGone = { (target: ReplyTarget) in target.socket == 0 && target.connection == descriptor }
        for (key, var flight) in queryFlights where flight.waiters.contains(where: { isGone($0.target) }) {
            for waiter in flight.waiters where isGone(waiter.target) {
                queryAnswered(waiter.target, flight.answered(waiter, status: "cancelled"))
            }
            flight.waiters.removeAll { isGone($0.target) }
            guard flight.waiters.isEmpty else {
                queryFlights[key] = flight
                continue
            }
            queryFlights[key] = nil
            queryTokens[flight.token] = nil
            queryQueue.removeAll { $0.token == flight.token }
            flight.cancellation.cancel()
            queryStats[flight.contract.id, default: QueryCounters()].cancelled += 1
        }
        for query in parkedQueries where isGone(query.target) {
            queryAnswered(query.target, query.answered(status: "cancelled", source: "parked"))
            queryStats[query.contract.id, default: QueryCounters()].cancelled += 1
        }
        parkedQueries.removeAll { isGone($0.target) }
    }

    func dispatchQueries() {
        // During a reload the readers are stopping: queued queries wait for the new ones.
        while reloading == nil, !queryQueue.isEmpty, let reader = idleReaders.popLast() {
            let job = queryQueue.removeFirst()
            do {
                try queryReaders[reader].sendObject(QueryReader.Message.run(job))
                queryStats[job.contract.id, default: QueryCounters()].executions += 1
            } catch {
                idleReaders.append(reader)
                logger.error("could not hand a query to a reader", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    func answerQuery(_ answer: QueryReader.Answer) {
        idleReaders.append(answer.reader)
        defer { dispatchQueries() }
        guard let key = queryTokens.removeValue(forKey: answer.token),
            var flight = queryFlights.removeValue(forKey: key)
        else {
            return
        }
        switch answer.result {
        case .failure(let error):
            if error.code == .deadlineExceeded { queryStats[answer.contract, default: QueryCounters()].timeouts += 1 }
            for waiter in flight.waiters {
                reply(waiter.target, .error, body: error.json)
                queryAnswered(waiter.target, flight.answered(waiter, status: error.code.rawValue))
                auditRejection(
                    error, target: waiter.target, kind: .query, contract: answer.contract.description,
                    idempotencyKey: nil, database: flight.contract.database)
            }
        case .success(let result):
            // Waiters who wrote after this snapshot began must see their write: run it again for them.
            let satisfied = { (waiter: Waiter) in
                waiter.isSatisfied(by: result.seq, projectionSeqs: result.projectionSeqs)
            }
            let late = flight.waiters.filter { !satisfied($0) }
            for waiter in flight.waiters where satisfied(waiter) {
                send(
                    waiter.target,
                    WireMessage.replyFrames(.result, requestID: waiter.target.requestID, encodedBody: result.body))
                queryAnswered(waiter.target, flight.answered(waiter, status: "ok"))
            }
            // Cache only what no known commit or projection refresh has overtaken; later ones
            // invalidate it.
            let database = flight.contract.database
            if let ttl = flight.contract.cacheTTLMs, result.seq >= (streams[database]?.seq ?? 0),
                result.projectionSeqs.allSatisfy({ $0.value >= (projectionSeqs[$0.key] ?? -1) })
            {
                cache(
                    key,
                    CachedResult(
                        body: result.body, seq: result.seq, projectionSeqs: result.projectionSeqs, database: database,
                        contract: flight.contract.id,
                        expiresAt: Clock.monotonicNanoseconds() + UInt64(ttl) * 1_000_000
                    ))
            }
            if !late.isEmpty {
                flight.waiters = late
                queryFlights[key] = flight
                startQuery(key)
            }
        }
    }

    /// Caches `result` under `key`, evicting others while the cache holds more than
    /// `maxCachedResultBytes` or `maximumCachedResults` entries. A result larger than the whole
    /// budget is not cached.
    func cache(_ key: String, _ result: CachedResult) {
        uncache(key)
        guard result.body.count <= configuration.maxCachedResultBytes else { return }
        while !queryCache.isEmpty,
            queryCache.count >= BrokerIOLoop.maximumCachedResults
                || queryCacheBytes + result.body.count > configuration.maxCachedResultBytes,
            let victim = queryCache.keys.first
        {
            uncache(victim)
        }
        queryCache[key] = result
        queryCacheBytes += result.body.count
    }

    func uncache(_ key: String) {
        if let removed = queryCache.removeValue(forKey: key) { queryCacheBytes -= removed.body.count }
    }

    /// Drops cached results that read a table a commit to `database` changed (all of the
    /// database's when the commit changed rows SQLite could not name, e.g. WITHOUT ROWID tables).
    func invalidateCache(database: String, tables: Set<String>, everything: Bool) {
        guard !queryCache.isEmpty else { return }
        for (key, cached) in queryCache where cached.database == database {
            guard !everything else {
                uncache(key)
                continue
            }
            let region = queryRegions[cached.contract] ?? .fullDatabase
            if tables.contains(where: { region.isModified(byEventsOfKind: .delete(tableName: $0)) }) {
                uncache(key)
            }
        }
    }

    /// At shutdown: queries still waiting for a reader are answered `overloaded` (the ones
    /// running finish and are answered before their reader stops).
    func refuseQueuedQueries() {
        let shuttingDown = WireError(.overloaded, "the broker is shutting down", retryAfterMs: 1000)
        for job in queryQueue {
            guard let key = queryTokens.removeValue(forKey: job.token),
                let flight = queryFlights.removeValue(forKey: key)
            else {
                continue
            }
            for waiter in flight.waiters {
                reply(waiter.target, .error, body: shuttingDown.json)
                queryAnswered(waiter.target, flight.answered(waiter, status: shuttingDown.code.rawValue))
            }
        }
        queryQueue.removeAll()
    }

    /// What the read audit records of one answered query.
    struct AnsweredRead {
        var contract: Contract
        var parameters: JSONValue
        var receivedAt: UInt64
        /// `ok` or the answer's error code.
        var status: String
        /// `cache`, `executed`, `coalesced`, `parked` (waited for a projection) or `refused`.
        var source: String
    }

    /// A query of `target.actor` got its answer: one fewer in flight (`max_queries_in_flight`),
    /// and a record for the read audit (written by the auditor thread, a pass's worth at a time).
    func queryAnswered(_ target: ReplyTarget, _ read: AnsweredRead) {
        let remaining = queriesInFlightPerActor[target.actor, default: 1] - 1
        queriesInFlightPerActor[target.actor] = remaining > 0 ? remaining : nil
        guard read.contract.audit.reads else { return }
        recordRead(
            target, kind: "query", receivedAt: read.receivedAt, parameters: read.parameters,
            database: read.contract.database, contract: read.contract.id.description, source: read.source,
            status: read.status)
    }

    /// A read answered: its record for the read audit (unless the broker runs without it).
    func recordRead(
        _ target: ReplyTarget, kind: String, receivedAt: UInt64, parameters: JSONValue, database: String?,
        contract: String? = nil, topic: String? = nil, source: String? = nil, status: String
    ) {
        guard configuration.auditReads else { return }
        let now = Clock.monotonicNanoseconds()
        let latency = Int64((now - min(receivedAt, now)) / 1000)
        answeredReads.append(
            ReadRecord(
                kind: kind, admittedMs: Clock.wallMilliseconds() - latency / 1000, requestID: target.requestID ?? "",
                actor: target.actor, database: database, contract: contract, topic: topic, parameters: parameters,
                status: status, latencyMicros: latency, source: source, context: target.context))
    }

    /// Hands the read records of this pass to the auditor thread, in one message.
    func flushReadAudit() {
        guard !answeredReads.isEmpty else { return }
        defer { answeredReads.removeAll(keepingCapacity: true) }
        do {
            try auditorInbox.sendObject(RejectionAuditor.Message.reads(answeredReads))
        } catch {
            logger.error("could not hand read records to the auditor", metadata: ["error": "\(error)"])
        }
    }

    var queryStatistics: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: queryStats.map { ($0.key.description, $0.value.json) }))
    }
}
