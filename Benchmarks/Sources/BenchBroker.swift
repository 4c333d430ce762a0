import ArgumentParser
import Foundation
import Logging
import SluiceBroker
import SluiceClient
import SluiceWire

/// A broker for a benchmark: its own data directory under `directory`, the benchmark contract
/// set, warnings-only logging, and the operator's token for worker processes.
struct BenchBroker {
    let broker: Broker
    let configuration: BrokerConfiguration
    let token: String

    /// With `projectionRows`, the contract set also has projection `recent` — the newest
    /// `projectionRows` bench rows, copied into the shared plugins database of an installed plugin.
    /// With `endpoints`, it serves there (tcp endpoints speak CURVE) instead of ipc in its data directory.
    init(
        in directory: URL, synchronous: SynchronousMode = .full, projectionRows: Int? = nil,
        endpoints: (commands: String, events: String)? = nil, inproc: Bool = false, maxBatch: Int? = nil,
        postgres: PostgresServer? = nil, configure: (inout BrokerConfiguration) -> Void = { _ in }
    ) throws {
        let contracts = directory.appendingPathComponent("contracts-set")
        if let postgres {
            // `bench.insert@v1` in plugin `bench`, whose database is its schemas on `postgres`.
            try FileManager.default.createDirectory(at: contracts, withIntermediateDirectories: true)
            try BenchBroker.installPostgresPlugin(
                data: directory.appendingPathComponent("data"), sources: directory.appendingPathComponent("plugin-src"))
            _ = postgres
        } else {
            try BenchWorker.writeContractSet(contracts)
        }
        if let projectionRows {
            try BenchBroker.addProjection(rows: projectionRows, to: contracts, data: directory.appendingPathComponent("data"))
        }
        var configuration = BrokerConfiguration(dataDirectory: directory.appendingPathComponent("data"))
        configuration.contractDirectories = [contracts]
        configuration.synchronous = synchronous
        if let maxBatch { configuration.maxBatchSize = max(1, maxBatch) }
        if let endpoints {
            configuration.commandEndpoint = endpoints.commands
            configuration.eventEndpoint = endpoints.events
        }
        if inproc { configuration.inprocIdentities = [TokenStore.operatorName] }
        configuration.postgres = postgres
        configure(&configuration)
        var logger = Logger(label: "sluice.bench")
        logger.logLevel = .warning
        broker = try Broker(configuration: configuration, logger: logger)
        try broker.start()
        token = try broker.tokens.ensureToken(for: TokenStore.operatorName)
        self.configuration = configuration
    }

    /// Plugin `bench` (exclusive-postgres) with the benchmark's insert, the same rows as the
    /// contract set's SQLite one.
    static func installPostgresPlugin(data: URL, sources: URL) throws {
        let plugin = sources.appendingPathComponent("bench")
        try FileManager.default.createDirectory(
            at: plugin.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: plugin.appendingPathComponent("migrations"), withIntermediateDirectories: true)
        let manifest: JSONValue = [
            "id": "bench", "version": "1.0.0", "database": ["mode": "exclusive-postgres"],
            "capabilities": ["bench:write"], "contracts": ["bench.insert@v1"],
        ]
        try manifest.canonicalString.write(
            to: plugin.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
        let contract: JSONValue = [
            "name": "bench.insert", "version": "v1", "kind": "command", "capability": "bench:write",
            "input": [
                "type": "object", "required": ["client", "n", "payload"], "additionalProperties": false,
                "properties": ["client": ["type": "integer"], "n": ["type": "integer"], "payload": ["type": "string"]],
            ],
            "statements": ["INSERT INTO bench(client, n, payload) VALUES (:client, :n, :payload)"],
        ]
        try contract.canonicalString.write(
            to: plugin.appendingPathComponent("contracts/bench.insert.v1.json"), atomically: true, encoding: .utf8)
        try (BenchPostgres.createTable + ";\n").write(
            to: plugin.appendingPathComponent("migrations/001_bench.sql"), atomically: true, encoding: .utf8)
        try PluginCatalog(dataDirectory: data).install(from: plugin)
    }

    static func addProjection(rows: Int, to contracts: URL, data: URL) throws {
        let folder = contracts.appendingPathComponent("projections")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let projection: JSONValue = [
            "name": "recent",
            "source": [
                "db": "bench", "query": "SELECT id, client, n FROM bench ORDER BY id DESC LIMIT :rows",
                "params": ["rows": .int(Int64(rows))],
            ],
            "target": ["db": "plugins", "table": "recent_bench"],
            "columns": ["id", "client", "n"],
        ]
        try projection.canonicalString.write(
            to: folder.appendingPathComponent("recent.json"), atomically: true, encoding: .utf8)
        // A plugin granted the projection, with a query that reads it (`viewer.recent@v1`).
        let plugin = try PluginScaffold.create(
            id: "viewer", mode: .shared, in: contracts.deletingLastPathComponent().appendingPathComponent("plugin-src"))
        let manifest: JSONValue = [
            "id": "viewer", "version": "0.1.0", "database": ["mode": "shared"],
            "capabilities": ["data:viewer:create", "projection:recent:read"],
            "contracts": ["viewer.item.create@v1", "viewer.recent@v1"],
        ]
        try manifest.canonicalString.write(
            to: plugin.appendingPathComponent("plugin.json"), atomically: true, encoding: .utf8)
        let query: JSONValue = [
            "name": "viewer.recent", "version": "v1", "kind": "query", "capability": "data:viewer:create",
            "input": ["type": "object"], "statements": ["SELECT count(*) AS rows FROM recent_bench"],
        ]
        try query.canonicalString.write(
            to: plugin.appendingPathComponent("contracts/viewer.recent.v1.json"), atomically: true, encoding: .utf8)
        try PluginCatalog(dataDirectory: data).install(from: plugin, contractDirectories: [contracts])
    }

    /// Drives this broker with `clients` worker processes, each sending `commands` inserts with
    /// `window` in flight: the C load generator at `loadgenPath` (`generator` "c") or `sluice bench
    /// worker` processes with the async ``SluiceClient`` ("swift") or a ``SluiceConnection``
    /// ("swift-blocking"). Returns the latencies, the wall time, the broker's CPU meanwhile (this
    /// process), the CPU the workers report for their load (their start-up excluded) and the
    /// slowest worker's commands per second over the fastest's.
    func drive(
        clients: Int, commands: Int, window: Int, generator: String, loadgenPath: String, subscriber: Bool = false,
        pauseMs: Int = 0, keys: BenchKeys = .timeOrdered
    ) throws -> (samples: [Double], seconds: Double, brokerCPU: Double, clientCPU: Double, fairness: Double) {
        let endpoint = configuration.commandEndpoint
        let token = token
        // A subscriber to every command event, its own process (its CPU is not the broker's).
        let listening = try subscriber ? startSubscriber() : nil
        defer {
            listening?.terminate()
            listening?.waitUntilExit()
        }
        let started = CPUTime.now()
        let (samples, seconds, clientCPU, fairness) =
            if generator == "c" {
                try spawnBenchWorkers(clients, executable: URL(fileURLWithPath: loadgenPath)) { index in
                    [endpoint, token, "\(index)", "\(commands)", "\(window)", "\(pauseMs)", keys.rawValue]
                }
            } else {
                try spawnBenchWorkers(clients) { index in
                    [
                        "worker", "--mode", generator == "swift-blocking" ? "broker-blocking" : "broker", "--target",
                        endpoint, "--id", "\(index)", "--commands", "\(commands)", "--window", "\(window)", "--token",
                        token, "--pause-ms", "\(pauseMs)", "--keys", keys.rawValue,
                    ]
                }
            }
        // The broker's CPU: this process's, less what this thread spent starting the workers
        // and reading their reports (tens of thousands of latencies each run), which is the
        // benchmark's work, not the broker's.
        let used = CPUTime.now() - started
        return (samples, seconds, used.selfSeconds - used.thread, clientCPU, fairness)
    }

    /// `sluice-bench worker --mode subscribe` on this broker's event endpoint, once it is ready.
    private func startSubscriber() throws -> Process {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [
            "worker", "--mode", "subscribe", "--target", configuration.commandEndpoint, "--contract",
            configuration.eventEndpoint, "--id", "0", "--commands", "0", "--token", token,
        ]
        process.standardOutput = pipe
        try process.run()
        var said = Data()
        while !said.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw ValidationError("the event subscriber ended before it was ready") }
            said.append(chunk)
        }
        return process
    }

    /// The operator's client in this process, over `inproc://` (the broker's own context).
    func inprocClient() throws -> SluiceClient {
        var configuration = ClientConfiguration(endpoint: Broker.inprocEndpoint(for: TokenStore.operatorName))
        configuration.sharedContext = broker.context
        return try SluiceClient(configuration: configuration)
    }

    /// The operator's client (PLAIN on ipc, its CURVE keys from the data directory on tcp),
    /// subscribed to the event endpoint too when `events`.
    func client(events: Bool = false) throws -> SluiceClient {
        try SluiceClient(
            endpoint: configuration.commandEndpoint, eventEndpoint: events ? configuration.eventEndpoint : nil,
            credentials: ClientCredentials.operator(dataDirectory: configuration.dataDirectory))
    }

    func stop() {
        broker.shutdown()
        broker.wait()
    }
}
