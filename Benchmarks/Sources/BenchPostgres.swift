import ArgumentParser
import Foundation
import SluiceBroker
import SluiceTestSupport

/// `sluice-bench write --database postgres`: the broker's exclusive-postgres path beside pgbench
/// writing the same rows, on a throwaway cluster (Debian's PostgreSQL, fsync and
/// synchronous_commit on) made for the run.
enum BenchPostgres {
    static let createTable =
        "CREATE TABLE IF NOT EXISTS bench(id bigserial PRIMARY KEY, client bigint NOT NULL, n bigint NOT NULL, payload text NOT NULL)"

    struct Row {
        var path: String
        var clients: Int
        var window: Int
        var rate: Double
        var latency: String
        var brokerCPU: Double?
    }

    /// pgbench: `clients` connections, each committing `commands` transactions of the rows the
    /// broker writes per command — the data row, a ledger row and a log row (the same tables and
    /// indexes as a plugin's `sluice_<id>` schema).
    static func pgbench(_ cluster: PostgresCluster, clients: Int, commands: Int, scratch: URL) throws -> Row {
        try cluster.psql(
            """
            CREATE SCHEMA same_rows;
            \(createTable.replacingOccurrences(of: "bench(", with: "same_rows.bench("));
            CREATE TABLE same_rows.ledger (actor text NOT NULL, idempotency_key text NOT NULL, payload_hash text NOT NULL,
                seq bigint NOT NULL, status text NOT NULL, result text NOT NULL, committed_at text NOT NULL,
                expires_ms bigint NOT NULL, PRIMARY KEY (actor, idempotency_key));
            CREATE INDEX ON same_rows.ledger (expires_ms);
            CREATE TABLE same_rows.log (seq bigint PRIMARY KEY, ts text NOT NULL, actor text NOT NULL, contract text NOT NULL,
                idempotency_key text NOT NULL, request_id text NOT NULL, generated_id text NOT NULL, payload text NOT NULL,
                status text NOT NULL, result text NOT NULL, changes text NOT NULL, latency_us bigint NOT NULL, context text);
            CREATE SEQUENCE same_rows.seqs;
            """)
        let script = scratch.appendingPathComponent("same-rows.sql")
        try """
            BEGIN;
            INSERT INTO same_rows.bench (client, n, payload) VALUES (:client_id, nextval('same_rows.seqs'), 'client ' || :client_id || ' command padding-padding-padding');
            INSERT INTO same_rows.ledger VALUES ('local', 'bench-' || :client_id || '-' || currval('same_rows.seqs'), '3f4bd2a0c1f1e5d6b7a8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0', currval('same_rows.seqs'), 'ok', '{"changes":1,"rows":[]}', '2026-11-30T12:00:00.000Z', 9999999999999);
            INSERT INTO same_rows.log VALUES (currval('same_rows.seqs'), '2026-11-30T12:00:00.000Z', 'local', 'bench.insert@v1', 'bench-' || :client_id || '-' || currval('same_rows.seqs'), 'r', '0b5f2a8e-7c1d-4e3f-9a6b-2c8d1e0f3a4b', '{"client":1,"n":1,"payload":"client 1 command padding-padding-padding"}', 'ok', '{"changes":1,"rows":[]}', '{"keys":[],"tables":{"bench":[]}}', 100, NULL);
            COMMIT;

            """.write(to: script, atomically: true, encoding: .utf8)
        chmod(scratch.path, 0o755)
        chmod(script.path, 0o644)
        let output = try cluster.run(
            "pgbench",
            ["-n", "-c", "\(clients)", "-j", "\(min(clients, 2))", "-t", "\(commands)", "-f", script.path, PostgresCluster.database],
            local: true)
        func figure(_ prefix: String) -> String? {
            output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map {
                String($0.dropFirst(prefix.count).prefix { $0 != " " })
            }
        }
        guard let tps = figure("tps = ").flatMap(Double.init) else {
            throw ValidationError("pgbench printed no tps: \(output)")
        }
        return Row(
            path: "pgbench, the same three rows per transaction", clients: clients, window: 1, rate: tps,
            latency: (figure("latency average = ") ?? "?") + " avg", brokerCPU: nil)
    }

    /// The PostgreSQL rows of `write --database postgres`: pgbench, then the broker at each window.
    static func run(
        clients: Int, commands: Int, windows: [Int], loadgenPath: String, root: URL
    ) async throws -> [Row] {
        BenchWrite.announce("PostgreSQL: a throwaway cluster")
        let cluster = try PostgresCluster()
        BenchWrite.announce("pgbench: \(clients) clients, the same rows")
        var rows = [try pgbench(cluster, clients: clients, commands: commands, scratch: root)]
        for window in windows {
            BenchWrite.announce("broker on PostgreSQL: \(window) in flight per client, C clients")
            // Each run starts from an empty plugin: the load generator's keys repeat from run to
            // run, and a ledger that already holds them would answer every command as a duplicate.
            try cluster.psql("DROP SCHEMA IF EXISTS plugin_bench CASCADE; DROP SCHEMA IF EXISTS sluice_bench CASCADE")
            let bench = try BenchBroker(
                in: root.appendingPathComponent("broker-postgres-\(window)"), postgres: cluster.server)
            defer { bench.stop() }
            let (samples, seconds, brokerCPU, _, _) = try bench.drive(
                clients: clients, commands: commands, window: window, generator: "c", loadgenPath: loadgenPath)
            let sorted = samples.sorted()
            let p50 = sorted.isEmpty ? 0 : sorted[sorted.count / 2] / 1000
            let p99 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 99 / 100)] / 1000
            rows.append(
                Row(
                    path: "sluice broker → exclusive-postgres (C clients)", clients: clients, window: window,
                    rate: Double(samples.count) / seconds, latency: String(format: "%.2f / %.2f ms", p50, p99),
                    brokerCPU: brokerCPU * 1e6 / Double(samples.count)))
        }
        return rows
    }

    static func print(_ rows: [Row]) {
        guard let baseline = rows.first?.rate else { return }
        Swift.print("")
        Swift.print("| PostgreSQL path | clients | in flight per client | commands/s | latency (p50 / p99, or pgbench's average) | × pgbench | broker CPU µs/cmd |")
        Swift.print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
        for row in rows {
            Swift.print(
                "| \(row.path) | \(row.clients) | \(row.window) | \(String(format: "%.0f", row.rate)) | \(row.latency) | \(String(format: "%.2f×", row.rate / baseline)) | \(row.brokerCPU.map { String(format: "%.1f", $0) } ?? "–") |")
        }
    }
}
