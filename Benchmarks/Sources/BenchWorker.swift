import ArgumentParser
import Foundation
import GRDB
import SluiceClient
import SluiceWire

/// One process of a write benchmark; prints its start and end times, the CPU it used in between and
/// per-command latencies (µs) as JSON.
struct BenchWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "One benchmark process (started by `sluice-bench write`).",
        shouldDisplay: false
    )

    @Option var mode: String
    @Option var target: String
    @Option var id: Int
    @Option var commands: Int
    @Option var window = 1
    @Option var token: String?
    @Option var contract = "bench.hot@v1"
    /// Think time after each answer before the next command (a plugin that writes now and then).
    @Option var pauseMs = 0
    @Option var keys = BenchKeys.timeOrdered

    /// The hot query of `sluice-bench query`: a grouped count over the bench table.
    static let hotQuery = "SELECT client, count(*) AS n, max(n) AS last FROM bench GROUP BY client ORDER BY client"

    static let createTable =
        "CREATE TABLE IF NOT EXISTS bench(id INTEGER PRIMARY KEY, client INTEGER NOT NULL, n INTEGER NOT NULL, payload TEXT NOT NULL)"

    func run() async throws {
        // The load itself, from right before the first command (as the C load generator counts
        // it): the process's start-up and its connection or database set-up are not per command,
        // would weigh on a short run, and would make the workers' spans differ by when each
        // process got going rather than by how it was served.
        let start = LoadStart()
        let latencies: [Double]
        switch mode {
        case "direct": latencies = try runDirect(start)
        case "direct-query": latencies = try runDirectQuery(start)
        case "query": latencies = try await runBroker(query: contract, start)
        case "subscribe": latencies = try await runSubscriber()
        case "broker-blocking": latencies = try runBlocking(start)
        default: latencies = try await runBroker(query: nil, start)
        }
        let finished = Date().timeIntervalSince1970
        let report: JSONValue = [
            "cpu_seconds": .double((CPUTime.now() - start.cpu).selfSeconds),
            "started": .double(start.wall), "finished": .double(finished),
            "latencies_us": .array(latencies.map { .double($0) }),
        ]
        print(report.canonicalString)
    }

    static func payload(_ client: Int, _ n: Int) -> String { "client \(client) command \(n) padding-padding-padding" }

    static func prepareDirectDatabase(_ path: String) throws {
        var configuration = Configuration()
        configuration.journalMode = .wal
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in try db.execute(sql: createTable) }
    }

    static func writeContractSet(_ directory: URL) throws {
        let files = FileManager.default
        try files.createDirectory(at: directory.appendingPathComponent("contracts"), withIntermediateDirectories: true)
        try files.createDirectory(
            at: directory.appendingPathComponent("migrations/bench"), withIntermediateDirectories: true)
        try (createTable + ";\n").write(
            to: directory.appendingPathComponent("migrations/bench/001_bench.sql"), atomically: true, encoding: .utf8)
        let contract: JSONValue = [
            "name": "bench.insert", "version": "v1", "kind": "command", "database": "bench",
            "capability": "bench:write",
            "input": [
                "type": "object", "required": ["client", "n", "payload"], "additionalProperties": false,
                "properties": ["client": ["type": "integer"], "n": ["type": "integer"], "payload": ["type": "string"]],
            ],
            "statements": ["INSERT INTO bench(client, n, payload) VALUES (:client, :n, :payload)"],
        ]
        try contract.canonicalString.write(
            to: directory.appendingPathComponent("contracts/bench.insert.v1.json"), atomically: true, encoding: .utf8)
        // The same query cached and not, each also without read audit (to measure what it costs).
        for (name, cached, audited) in [
            ("bench.hot", true, true), ("bench.cold", false, true), ("bench.hotquiet", true, false),
            ("bench.coldquiet", false, false),
        ] {
            var query: [String: JSONValue] = [
                "name": .string(name), "version": "v1", "kind": "query", "database": "bench",
                "statements": [.string(hotQuery)],
            ]
            if cached { query["limits"] = ["cache_ttl_ms": 60_000] }
            if !audited { query["audit"] = ["reads": false] }
            try JSONValue.object(query).canonicalString.write(
                to: directory.appendingPathComponent("contracts/\(name).v1.json"), atomically: true, encoding: .utf8
            )
        }
    }

    private func runDirect(_ start: LoadStart) throws -> [Double] {
        var configuration = Configuration()
        configuration.busyMode = .timeout(60)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let queue = try DatabaseQueue(path: target, configuration: configuration)
        var latencies: [Double] = []
        latencies.reserveCapacity(commands)
        let clock = ContinuousClock()
        start.mark()
        for n in 0..<commands {
            let started = clock.now
            try queue.inTransaction(.immediate) { db in
                try db.execute(
                    sql: "INSERT INTO bench(client, n, payload) VALUES (?, ?, ?)",
                    arguments: [id, n, BenchWorker.payload(id, n)]
                )
                return .commit
            }
            latencies.append(microseconds(started.duration(to: clock.now)))
        }
        return latencies
    }

    private func runDirectQuery(_ start: LoadStart) throws -> [Double] {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: target, configuration: configuration)
        let clock = ContinuousClock()
        var latencies: [Double] = []
        start.mark()
        for _ in 0..<commands {
            let started = clock.now
            _ = try queue.read { db in try Row.fetchAll(db, sql: BenchWorker.hotQuery) }
            latencies.append(microseconds(started.duration(to: clock.now)))
        }
        return latencies
    }

    /// A subscriber to every command event (as the operator; `target` is the command endpoint,
    /// `contract` the event endpoint):
    /// says `ready` on its own line once its subscription is known to have reached the broker
    /// (a heartbeat came), then takes events until it is terminated.
    private func runSubscriber() async throws -> [Double] {
        let configuration = ClientConfiguration(
            endpoint: target, eventEndpoint: contract, credentials: token.map { ClientCredentials(name: "local", token: $0) })
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        var ready = false
        var received = 0
        for try await event in client.events(topics: ["audit.", "inval.", Topic.heartbeat]) {
            if !ready, event.topic == Topic.heartbeat {
                ready = true
                FileHandle.standardOutput.write(Data("ready\n".utf8))
            }
            received += 1
        }
        return [Double(received)]
    }

    /// `window` commands in flight from this thread through a ``SluiceConnection``: submit, wait
    /// for the next answer, submit the next. (The process does nothing else, so blocking the
    /// thread `run` was called on holds up no other work.)
    private func runBlocking(_ start: LoadStart) throws -> [Double] {
        var configuration = ClientConfiguration(
            endpoint: target, credentials: token.map { ClientCredentials(name: "local", token: $0) })
        configuration.attemptTimeout = .seconds(60)
        let connection = try SluiceConnection(configuration: configuration)
        defer { connection.close() }
        let clock = ContinuousClock()
        var latencies: [Double] = []
        latencies.reserveCapacity(commands)
        var sentAt: [String: ContinuousClock.Instant] = [:]
        var next = 0
        // Options read once: an @Option's getter per command showed in the client's profile.
        let (client, commands, window, pauseMs) = (id, commands, max(1, window), pauseMs)
        func submit() throws {
            let request = try connection.submit(
                "bench.insert@v1",
                ["client": .int(Int64(client)), "n": .int(Int64(next)), "payload": .string(BenchWorker.payload(client, next))],
                idempotencyKey: keys.key(client, next))
            sentAt[request] = clock.now
            next += 1
        }
        start.mark()
        while next < min(commands, window) { try submit() }
        while latencies.count < commands {
            guard let reply = try connection.nextReply(timeout: .seconds(60)) else {
                throw ValidationError("no answer within 60 s")
            }
            _ = try reply.outcome.get()
            guard let started = sentAt.removeValue(forKey: reply.requestID) else { continue }
            latencies.append(microseconds(started.duration(to: clock.now)))
            if pauseMs > 0 { Thread.sleep(forTimeInterval: Double(pauseMs) / 1000) }
            if next < commands { try submit() }
        }
        return latencies
    }

    private func runBroker(query: String?, _ start: LoadStart) async throws -> [Double] {
        var configuration = ClientConfiguration(
            endpoint: target, credentials: token.map { ClientCredentials(name: "local", token: $0) }
        )
        configuration.attemptTimeout = .seconds(60)
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }
        let id = self.id
        let commands = self.commands
        let window = max(1, self.window)
        let pauseMs = self.pauseMs
        let keys = self.keys
        start.mark()
        return try await withThrowingTaskGroup(of: [Double].self) { group in
            for lane in 0..<window {
                group.addTask {
                    let clock = ContinuousClock()
                    var latencies: [Double] = []
                    for n in stride(from: lane, to: commands, by: window) {
                        let started = clock.now
                        if let query {
                            _ = try await client.query(query)
                        } else {
                            try await client.send(
                                "bench.insert@v1",
                                [
                                    "client": .int(Int64(id)), "n": .int(Int64(n)),
                                    "payload": .string(BenchWorker.payload(id, n)),
                                ],
                                idempotencyKey: keys.key(id, n)
                            )
                        }
                        latencies.append(microseconds(started.duration(to: clock.now)))
                        if pauseMs > 0 { try await Task.sleep(for: .milliseconds(pauseMs)) }
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }
}

/// When a worker's load began, by the wall clock and in CPU used so far: set once, right before
/// its first command.
final class LoadStart: @unchecked Sendable {
    private(set) var wall = Date().timeIntervalSince1970
    private(set) var cpu = CPUTime.now()

    func mark() {
        wall = Date().timeIntervalSince1970
        cpu = CPUTime.now()
    }
}

private func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1_000_000 + Double(duration.components.attoseconds) / 1_000_000_000_000
}

/// The benchmark commands' idempotency keys, as `Benchmarks/benchkey.h` makes them for the C
/// programs: `time-ordered` — UUIDv7-shaped, as the clients make them by default: the first 48
/// bits count up with the command number as a UUIDv7's do with the clock, the rest a fixed mix of
/// the client and the command number; `random` — UUID-shaped keys made wholly of that mix, spread
/// over the key space as random (version 4) UUIDs are; or `sequential`, `bench-<client>-<n>` (the
/// keys of the rounds before 2026-12-01).
enum BenchKeys: String, ExpressibleByArgument, Sendable {
    case timeOrdered = "time-ordered", random, sequential

    /// `BENCH_KEY_EPOCH_MS` of benchkey.h: the "milliseconds" of command 0's time-ordered key.
    static let epochMilliseconds: UInt64 = 1_700_000_000_000

    func key(_ client: Int, _ n: Int) -> String {
        guard self != .sequential else { return "bench-\(client)-\(n)" }
        var high = BenchKeys.mix(UInt64(client) << 40 ^ UInt64(n))
        var low = BenchKeys.mix(high)
        if self == .timeOrdered {
            high = (BenchKeys.epochMilliseconds + UInt64(n)) << 16 | 0x7000 | (high & 0x0fff)
            low = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
        }
        return RandomIdentifier.text(high: high, low: low)
    }

    /// SplitMix64's finalizer, as `bench_mix` in benchkey.h.
    static func mix(_ value: UInt64) -> UInt64 {
        var x = value &+ 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }
}
