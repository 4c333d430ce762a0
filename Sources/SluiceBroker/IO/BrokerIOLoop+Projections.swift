import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// Projections on the I/O thread: after a source commit, the target's writer is asked to refresh
/// each projection whose query reads a changed table; a `QUERY` that needs a projection to reflect
/// a source seq waits here (without a reader) until it does or its deadline passes.
extension BrokerIOLoop {
    /// A query waiting for projections to reach the source seqs it asked for.
    struct ParkedQuery {
        var request: QueryRequest
        var contract: Contract
        var target: ReplyTarget
        var receivedAt: UInt64
        /// Monotonic nanoseconds; past it the answer is `stale`.
        var deadline: UInt64
        /// Projection → the source seq it must reflect.
        var needs: [String: Int64]

        func answered(status: String, source: String) -> AnsweredRead {
            AnsweredRead(
                contract: contract, parameters: request.parameters, receivedAt: receivedAt, status: status,
                source: source)
        }
    }

    /// At most this many queries wait for projections at once; more are answered `overloaded`.
    static let maximumParkedQueries = 10_000

    /// Per query contract, the projections it reads (worked out once from what it reads).
    static func projectionsRead(
        registry: ContractRegistry, queryRegions: [ContractID: DatabaseRegion]
    ) -> [ContractID: [Projection]] {
        var read: [ContractID: [Projection]] = [:]
        for (id, region) in queryRegions {
            guard let contract = registry[id] else { continue }
            let projections = registry.projections(into: contract.database).filter {
                region.isModified(byEventsOfKind: .delete(tableName: $0.table))
            }
            if !projections.isEmpty { read[id] = projections }
        }
        return read
    }

    /// The source seq each projection `contract` reads must reflect for `request`: its
    /// `min_source_seq`, and `after` for the projection's source (read-your-writes across
    /// databases). Throws when `min_source_seq` cannot apply.
    func projectionNeeds(_ request: QueryRequest, _ contract: Contract) throws(WireError) -> [String: Int64] {
        let read = projectionsReadByQuery[contract.id] ?? []
        if request.minSourceSeq != nil {
            guard !read.isEmpty else {
                throw WireError(
                    .invalidMessage, "header.min_source_seq: \(contract.id) reads no projection",
                    details: ["field": "min_source_seq"])
            }
            guard Set(read.map(\.sourceDatabase)).count == 1 else {
                throw WireError(
                    .invalidMessage,
                    "header.min_source_seq: \(contract.id) reads projections of several databases; use header.after with a seq per database",
                    details: ["field": "min_source_seq"])
            }
        }
        var needs: [String: Int64] = [:]
        for projection in read {
            let need = max(request.minSourceSeq ?? 0, request.after[projection.sourceDatabase] ?? 0)
            if need > 0 { needs[projection.name] = need }
        }
        return needs
    }

    func unmet(_ needs: [String: Int64]) -> [String: Int64] {
        needs.filter { (projectionSeqs[$0.key] ?? -1) < $0.value }
    }

    func park(_ query: ParkedQuery) {
        guard parkedQueries.count < BrokerIOLoop.maximumParkedQueries else {
            reject(
                query.target, WireError(.overloaded, "too many queries are waiting for projections", retryAfterMs: 50),
                kind: .query)
            queryAnswered(query.target, query.answered(status: "overloaded", source: "refused"))
            return
        }
        parkedQueries.append(query)
    }

    /// After commits to `database`: asks each target's writer to refresh the projections whose
    /// query reads a table the commits changed (every projection of the source when they changed
    /// rows SQLite could not name).
    ///
    /// Not while the writers stop for a reload: the reload's reopening brings every projection
    /// up to its source's newest commit (``ProjectionStart``), as a start does.
    func refreshProjections(source database: String, tables: Set<String>, everything: Bool) {
        guard !draining, reloading == nil, let projections = projectionsBySource[database] else { return }
        var byTarget: [String: [String]] = [:]
        for projection in projections {
            let region = projectionRegions[projection.name] ?? .fullDatabase
            guard everything || tables.contains(where: { region.isModified(byEventsOfKind: .delete(tableName: $0)) })
            else { continue }
            byTarget[projection.targetDatabase, default: []].append(projection.name)
        }
        for (target, names) in byTarget {
            do {
                try lanes[target]?.inbox?.sendObject(WriterMessage.refreshProjections(names))
            } catch {
                logger.error("could not ask for a projection refresh", metadata: ["db": "\(target)", "error": "\(error)"])
            }
        }
    }

    /// A writer refreshed projections: records their seqs, drops cached results that read their
    /// tables, and answers the parked queries now satisfied.
    func projected(database: String, _ results: [Result<ProjectionTable.State, ProjectionFailure>]) {
        var tables: Set<String> = []
        for result in results {
            switch result {
            case .success(let state):
                projectionSeqs[state.name] = state.sourceSeq
                projectionCounters[state.name, default: (0, 0, 0)].refreshes += 1
                projectionCounters[state.name, default: (0, 0, 0)].micros += state.micros
                if let table = registry.projections[state.name]?.table { tables.insert(table) }
            case .failure(let failure):
                projectionCounters[failure.name, default: (0, 0, 0)].failures += 1
                logger.warning(
                    "projection not refreshed", metadata: ["projection": "\(failure.name)", "reason": "\(failure.reason)"])
            }
        }
        if !tables.isEmpty { invalidateCache(database: database, tables: tables, everything: false) }
        guard !parkedQueries.isEmpty else { return }
        var waiting: [ParkedQuery] = []
        for query in parkedQueries {
            if unmet(query.needs).isEmpty {
                runQuery(query.request, query.contract, target: query.target, receivedAt: query.receivedAt,
                    needs: query.needs)
            } else {
                waiting.append(query)
            }
        }
        parkedQueries = waiting
    }

    /// For `STATS`: per projection, the source seq it reflects and its refresh counters.
    var projectionStatistics: JSONValue {
        var members: [String: JSONValue] = [:]
        for name in registry.projections.keys {
            let counters = projectionCounters[name] ?? (0, 0, 0)
            members[name] = [
                "source_seq": .int(projectionSeqs[name] ?? -1), "refreshes": .int(counters.refreshes),
                "refresh_us_sum": .int(counters.micros), "failures": .int(counters.failures),
            ]
        }
        return .object(JSONObject(members))
    }

    /// When the next parked query's deadline passes (nil when none waits).
    var nextParkedDeadline: UInt64? { parkedQueries.map(\.deadline).min() }

    /// Answers `stale` to every parked query whose deadline has passed.
    func expireParkedQueries(now: UInt64) {
        guard parkedQueries.contains(where: { $0.deadline <= now }) else { return }
        var waiting: [ParkedQuery] = []
        for query in parkedQueries {
            guard query.deadline <= now else {
                waiting.append(query)
                continue
            }
            let (name, need) = unmet(query.needs).min { $0.key < $1.key } ?? query.needs.first!
            let projection = registry.projections[name]
            let error = WireError(
                .stale,
                "projection \(name) reflects \(projection?.sourceDatabase ?? "its source") up to seq \(projectionSeqs[name] ?? -1), not yet \(need); ask again, or without min_source_seq for what it holds now",
                retryAfterMs: 100,
                details: [
                    "projection": .string(name), "source_db": .string(projection?.sourceDatabase ?? ""),
                    "source_seq": .int(projectionSeqs[name] ?? -1), "min_source_seq": .int(need),
                ]
            )
            reject(query.target, error, kind: .query, database: query.contract.database)
            queryAnswered(query.target, query.answered(status: error.code.rawValue, source: "parked"))
        }
        parkedQueries = waiting
    }

    /// At shutdown: queries waiting for projections are answered `overloaded`.
    func refuseParkedQueries() {
        let shuttingDown = WireError(.overloaded, "the broker is shutting down", retryAfterMs: 1000)
        for query in parkedQueries {
            reply(query.target, .error, body: shuttingDown.json)
            queryAnswered(query.target, query.answered(status: shuttingDown.code.rawValue, source: "parked"))
        }
        parkedQueries.removeAll()
    }
}
