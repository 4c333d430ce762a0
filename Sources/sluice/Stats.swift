import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The broker's counters: as JSON, or in the Prometheus text format.",
        discussion: """
            Counters since the broker started: requests, rejections, commits, duplicates, per identity (commands, \
            queries, rejections, failures, latency) and per query contract (executions, cache hits and misses, \
            coalesced, timeouts, cancelled). `--prometheus` prints them for a scrape (e.g. from a textfile collector).
            """
    )

    @Flag(name: .long, help: "Prometheus text exposition format (version 0.0.4).")
    var prometheus = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = try connection.makeClient()
        defer { client.close() }
        let stats = try await client.stats()
        print(prometheus ? PrometheusText.render(stats) : stats.canonicalString)
    }
}

/// Renders a `STATS_REPLY` body as Prometheus text. Label values are identities and contract ids:
/// bounded sets, never request ids.
enum PrometheusText {
    static func render(_ stats: JSONValue) -> String {
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            guard !samples.isEmpty else { return }
            lines.append("# HELP sluice_\(name) \(help)")
            lines.append("# TYPE sluice_\(name) \(type)")
            for sample in samples {
                let value = sample.value.rounded() == sample.value ? String(Int64(sample.value)) : String(sample.value)
                lines.append("sluice_\(name)\(sample.labels) \(value)")
            }
        }
        func number(_ value: JSONValue?) -> Double { value?.doubleValue ?? 0 }
        for (key, help) in [
            ("received", "Requests received."), ("malformed", "Requests that were not well-formed."),
            ("rejected", "Requests refused before reaching a database."), ("admitted", "Commands handed to a writer."),
            ("committed", "Commands committed."), ("failed", "Commands answered with an error after admission."),
            ("duplicates", "Retries answered from the idempotency ledger."),
            ("coalesced", "Retries joined to an in-flight command."),
            ("unroutable_replies", "Replies whose client was gone."), ("events_published", "Events published."),
            ("sync_requests", "SYNC pages asked for."),
        ] {
            family("\(key)_total", "counter", help, [("", number(stats[key]))])
        }
        let actors = (stats["actors"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        func perActor(_ field: String) -> [(String, Double)] {
            actors.map { ("{actor=\"\($0.key)\"}", number($0.value[field])) }
        }
        family("actor_commands_total", "counter", "Commands admitted, per identity.", perActor("commands"))
        family("actor_queries_total", "counter", "Queries received, per identity.", perActor("queries"))
        family("actor_rejected_total", "counter", "Requests refused, per identity.", perActor("rejected"))
        family(
            "actor_failed_total", "counter", "Commands that failed after admission, per identity.", perActor("failed"))
        family(
            "actor_latency_ms_sum", "counter", "Admission-to-answer time of commands, per identity.",
            perActor("latency_ms_sum"))
        family("actor_latency_ms_count", "counter", "Commands timed, per identity.", perActor("latency_count"))
        let queries = (stats["queries"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        for field in ["executions", "hits", "misses", "coalesced", "timeouts", "cancelled"] {
            family(
                "query_\(field)_total", "counter", "Queries: \(field), per contract.",
                queries.map { ("{contract=\"\($0.key)\"}", number($0.value[field])) }
            )
        }
        let queued = (stats["queued"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        family(
            "queued_commands", "gauge", "Commands waiting for their writer, per database.",
            queued.map { ("{db=\"\($0.key)\"}", number($0.value)) })
        for (field, help) in [
            ("batches", "Writer transactions (group commits), per database."),
            ("batched_commands", "Commands those transactions carried, per database."),
        ] {
            let values = (stats[field]?.objectValue ?? [:]).sorted { $0.key < $1.key }
            // Named as the broker's own /metrics names them.
            family("db_\(field)_total", "counter", help, values.map { ("{db=\"\($0.key)\"}", number($0.value)) })
        }
        family("cached_results", "gauge", "Query results in the cache.", [("", number(stats["cached_results"]))])
        return lines.joined(separator: "\n")
    }
}
