import CoreMetrics
public import Prometheus
import Synchronization

/// The broker's metrics in swift-metrics' types over a Prometheus registry of its own (not the
/// process-wide `MetricsSystem`: a process may run several brokers, as the tests do).
///
/// The I/O thread owns the counters it answers `STATS` with and copies them here once per
/// heartbeat (``publish(_:)``): nothing is added to a command's path, and a scrape reads values
/// at most one heartbeat old. Label sets are bounded: databases come from the contract set, and
/// identities beyond the first ``maxActorLabels`` are counted under `actor="(other)"`.
public final class BrokerMetrics: Sendable {
    public static let maxActorLabels = 100
    static let otherActors = "(other)"

    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let state = Mutex(State())

    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// One database's figures at a heartbeat.
    struct DatabaseFigures {
        var lastSeq: Int64
        /// Commands, and their bytes, queued for its writer.
        var queued: Int
        var queuedBytes: Int
        /// Transactions its writer committed (or tried) and the commands they carried.
        var batches: Int64
        var batchedCommands: Int64
    }

    /// What the I/O thread knows at a heartbeat.
    struct Snapshot {
        var counters: BrokerCounters
        var actors: [String: ActorCounters]
        /// Per database: last seq, what is queued for its writer, its batches.
        var databases: [String: DatabaseFigures]
        var parkedQueries: Int
        /// Per query contract (`name@version`, a bounded set from the contract set).
        var queries: [String: BrokerIOLoop.QueryCounters] = [:]
        var cachedResults: Int = 0
    }

    private struct State {
        /// What was last published, to turn running totals into counter increments.
        var published: [String: Int64] = [:]
        var publishedSeconds: [String: Double] = [:]
        var counters: [String: CoreMetrics.Counter] = [:]
        var floatingCounters: [String: FloatingPointCounter] = [:]
        var gauges: [String: CoreMetrics.Gauge] = [:]
        var actorLabels: Set<String> = []
    }

    func publish(_ snapshot: Snapshot) {
        state.withLock { state in
            let counters = snapshot.counters
            let totals: [(String, Int64)] = [
                ("sluice_requests_received_total", counters.received),
                ("sluice_requests_malformed_total", counters.malformed),
                ("sluice_requests_rejected_total", counters.rejected),
                ("sluice_commands_admitted_total", counters.admitted),
                ("sluice_commands_committed_total", counters.committed),
                ("sluice_commands_failed_total", counters.failed),
                ("sluice_commands_duplicate_total", counters.duplicates),
                ("sluice_commands_coalesced_total", counters.coalesced),
                ("sluice_replies_unroutable_total", counters.unroutableReplies),
                ("sluice_events_published_total", counters.eventsPublished),
                ("sluice_sync_requests_total", counters.syncRequests),
                ("sluice_handshakes_refused_total", counters.refusedHandshakes),
                ("sluice_subscriptions_total", counters.subscriptions),
                ("sluice_subscriptions_refused_total", counters.subscriptionsRefused),
            ]
            for (name, value) in totals { add(&state, name, [], value) }

            // Identities: a bounded label set; the rest are summed under "(other)".
            var byLabel: [String: ActorCounters] = [:]
            for (actor, values) in snapshot.actors {
                if !state.actorLabels.contains(actor), state.actorLabels.count < BrokerMetrics.maxActorLabels {
                    state.actorLabels.insert(actor)
                }
                let label = state.actorLabels.contains(actor) ? actor : BrokerMetrics.otherActors
                var sum = byLabel[label, default: ActorCounters()]
                sum.commands += values.commands
                sum.queries += values.queries
                sum.rejected += values.rejected
                sum.failed += values.failed
                sum.latencyMsSum += values.latencyMsSum
                sum.latencyCount += values.latencyCount
                byLabel[label] = sum
            }
            for (actor, values) in byLabel {
                let labels = [("actor", actor)]
                add(&state, "sluice_actor_commands_total", labels, values.commands)
                add(&state, "sluice_actor_queries_total", labels, values.queries)
                add(&state, "sluice_actor_rejected_total", labels, values.rejected)
                add(&state, "sluice_actor_failed_total", labels, values.failed)
                add(&state, "sluice_actor_command_latency_seconds_count", labels, values.latencyCount)
                addSeconds(&state, "sluice_actor_command_latency_seconds_sum", labels, values.latencyMsSum / 1000)
            }

            for (database, values) in snapshot.databases {
                let labels = [("db", database)]
                set(&state, "sluice_db_last_seq", labels, Double(values.lastSeq))
                set(&state, "sluice_db_queued_commands", labels, Double(values.queued))
                set(&state, "sluice_db_queued_bytes", labels, Double(values.queuedBytes))
                add(&state, "sluice_db_batches_total", labels, values.batches)
                add(&state, "sluice_db_batched_commands_total", labels, values.batchedCommands)
            }
            for (contract, values) in snapshot.queries {
                let labels = [("contract", contract)]
                add(&state, "sluice_query_executions_total", labels, values.executions)
                add(&state, "sluice_query_cache_hits_total", labels, values.hits)
                add(&state, "sluice_query_cache_misses_total", labels, values.misses)
                add(&state, "sluice_query_coalesced_total", labels, values.coalesced)
                add(&state, "sluice_query_timeouts_total", labels, values.timeouts)
                add(&state, "sluice_query_cancelled_total", labels, values.cancelled)
            }
            set(&state, "sluice_parked_queries", [], Double(snapshot.parkedQueries))
            set(&state, "sluice_cached_results", [], Double(snapshot.cachedResults))
        }
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "|" + $1.0 + "=" + $1.1 }
    }

    private func add(_ state: inout State, _ name: String, _ labels: [(String, String)], _ total: Int64) {
        let key = BrokerMetrics.key(name, labels)
        let counter = state.counters[key] ?? CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
        state.counters[key] = counter
        let delta = total - state.published[key, default: 0]
        if delta > 0 { counter.increment(by: delta) }
        state.published[key] = max(total, state.published[key, default: 0])
    }

    private func addSeconds(_ state: inout State, _ name: String, _ labels: [(String, String)], _ total: Double) {
        let key = BrokerMetrics.key(name, labels)
        let counter =
            state.floatingCounters[key] ?? FloatingPointCounter(label: name, dimensions: labels, factory: factory)
        state.floatingCounters[key] = counter
        let delta = total - state.publishedSeconds[key, default: 0]
        if delta > 0 { counter.increment(by: delta) }
        state.publishedSeconds[key] = max(total, state.publishedSeconds[key, default: 0])
    }

    private func set(_ state: inout State, _ name: String, _ labels: [(String, String)], _ value: Double) {
        let key = BrokerMetrics.key(name, labels)
        let gauge = state.gauges[key] ?? CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
        state.gauges[key] = gauge
        gauge.record(value)
    }
}
