import ArgumentParser
import Foundation
import GRDB
import Logging
import SluiceBroker
import SluiceClient
import SluiceWire

/// `sluice-bench replay`: replay and catch-up rates, each against plain SQLite doing the same
/// amount of work in the same run.
struct BenchReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay (commands/s) and SYNC catch-up (events/s) against plain SQLite baselines.",
        discussion: """
            Writes --commands simple inserts through a broker, then measures: rebuilding the database from its log \
            (`sluice replay`'s code) against plain SQLite in transactions of 1,000 through prepared statements — \
            the data rows alone, and the rows per command the rebuild writes (data and log, the log row being the \
            idempotency entry too: the C ceiling of `sluice-bench write`); and reading the audit stream back through SYNC pages against \
            reading the same log rows straight from SQLite.
            """
    )

    @Option(help: "The compiled C ceiling program (make bench builds it); without it the ceiling runs through GRDB.")
    var ceilingPath = ".build/ceiling"

    @Option(help: "Commands to write, replay and catch up on.")
    var commands = 20_000

    @Option(help: "Where to put the temporary data directories.")
    var scratch = "/tmp"

    @Option(help: "Catch-up rounds (and rounds of their SELECT baseline); the table shows each one's median.")
    var rounds = 3

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("sluice-bench-replay-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let bench = try BenchBroker(in: root)
        let configuration = bench.configuration
        let contracts = configuration.contractDirectories[0]
        var logger = Logger(label: "sluice.bench")
        logger.logLevel = .warning
        print("sluice-bench replay: \(commands) commands")
        let client = try bench.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<256 {
                group.addTask {
                    for n in stride(from: lane, to: commands, by: 256) {
                        try await client.send(
                            "bench.insert@v1",
                            ["client": 0, "n": .int(Int64(n)), "payload": .string(BenchWorker.payload(0, n))],
                            idempotencyKey: BenchKeys.timeOrdered.key(0, n)
                        )
                    }
                }
            }
            try await group.waitForAll()
        }

        // Catch-up: SYNC pages of audit.bench vs. reading the same log rows straight from SQLite.
        // Each a tenth of a second or so: the median of --rounds of each, so one noisy
        // moment of this shared machine does not decide the figure.
        var received = 0
        var syncRounds: [Double] = []
        var delivered = 0
        var subscribeRounds: [Double] = []
        // The CPU of this process (the broker and the client both) per round: steadier than the
        // seconds on a shared machine.
        var syncCPU: [Double] = []
        var subscribeCPU: [Double] = []
        for _ in 0..<rounds {
            let syncStarted = Date()
            let syncCPUStarted = CPUTime.now().selfSeconds
            var from: Int64 = 1
            received = 0
            while true {
                let (events, end) = try await client.sync(
                    topic: "audit.bench", fromSeq: from, limit: SyncRequest.maximumLimit)
                received += events.count
                if end.complete { break }
                from = end.lastSeq + 1
            }
            syncRounds.append(Date().timeIntervalSince(syncStarted))
            syncCPU.append(CPUTime.now().selfSeconds - syncCPUStarted)

            // The same stream through a gap-free subscription (pages of the default 1,000), which
            // asks for the next three pages while it parses and delivers the current one.
            let subscriber = try bench.client(events: true)
            let subscribeStarted = Date()
            let subscribeCPUStarted = CPUTime.now().selfSeconds
            delivered = 0
            for try await _ in subscriber.subscribe(topic: "audit.bench") {
                delivered += 1
                if delivered == received { break }
            }
            subscribeRounds.append(Date().timeIntervalSince(subscribeStarted))
            subscribeCPU.append(CPUTime.now().selfSeconds - subscribeCPUStarted)
            subscriber.close()
        }
        client.close()
        bench.stop()

        let live = configuration.dataDirectory.appendingPathComponent("bench.db")
        var readOnly = Configuration()
        readOnly.readonly = true
        var rows = 0
        var readRounds: [Double] = []
        var readCPU: [Double] = []
        for _ in 0..<rounds {
            let readStarted = Date()
            let readCPUStarted = CPUTime.now().selfSeconds
            rows = try await DatabaseQueue(path: live.path, configuration: readOnly).read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM sluice_log ORDER BY seq").count
            }
            readRounds.append(Date().timeIntervalSince(readStarted))
            readCPU.append(CPUTime.now().selfSeconds - readCPUStarted)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let (syncSeconds, subscribeSeconds, readSeconds) = (
            median(syncRounds), median(subscribeRounds), median(readRounds)
        )

        // Replay vs. the same inserts by plain SQLite, 1,000 per transaction, through one prepared
        // statement (as the broker's writer binds its own).
        let registry = try ContractRegistry(directories: [contracts])
        let replayStarted = Date()
        let report = try LogReplayer(registry: registry, logger: logger).replay(
            database: live, into: root.appendingPathComponent("rebuilt/bench.db"), verify: false
        )
        let replaySeconds = Date().timeIntervalSince(replayStarted)
        let plain = try DatabaseQueue(path: root.appendingPathComponent("plain.db").path)
        try await plain.write { db in try db.execute(sql: BenchWorker.createTable) }
        let plainStarted = Date()
        for start in stride(from: 0, to: commands, by: 1000) {
            try await plain.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO bench(client, n, payload) VALUES (?, ?, ?)")
                for n in start..<min(commands, start + 1000) {
                    try insert.execute(arguments: [0, n, BenchWorker.payload(0, n)])
                }
            }
        }
        let plainSeconds = Date().timeIntervalSince(plainStarted)
        let ceiling = try BenchCeiling.run(
            in: root.appendingPathComponent("ceiling"), commands: commands, executable: ceilingPath)
        let ceilingName = ceiling.path.hasPrefix("ceiling (C)") ? "ceiling (C)" : "ceiling (GRDB)"

        print("")
        print("| what | rows | seconds | per second | baseline | baseline per second | × baseline |")
        print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
        func line(
            _ what: String, _ count: Int, _ seconds: Double, _ baseline: String, _ baseCount: Int, _ baseSeconds: Double
        ) {
            let rate = Double(count) / seconds
            let baseRate = Double(baseCount) / baseSeconds
            print(
                "| \(what) | \(count) | \(String(format: "%.2f", seconds)) | \(String(format: "%.0f", rate)) | \(baseline) | "
                    + "\(String(format: "%.0f", baseRate)) | \(String(format: "%.2f×", rate / baseRate)) |"
            )
        }
        line(
            "replay (sluice replay)", report.replayed, replaySeconds,
            "plain INSERTs of the data rows, 1,000 per transaction", commands, plainSeconds)
        line(
            "replay (sluice replay)", report.replayed, replaySeconds,
            "\(ceilingName): data and log rows, 1,000 per transaction", commands, ceiling.seconds)
        line(
            "catch-up (SYNC pages of 5,000, one at a time; median of \(rounds))", received, syncSeconds,
            "SELECT of the same log rows (median of \(rounds))", rows, readSeconds)
        line(
            "catch-up (subscribe: pages of 1,000, three asked for ahead; median of \(rounds))", delivered,
            subscribeSeconds, "SELECT of the same log rows (median of \(rounds))", rows, readSeconds)
        func perEvent(_ cpu: [Double], _ count: Int) -> String { String(format: "%.1f", median(cpu) * 1e6 / Double(count)) }
        print("")
        print(
            "CPU per event, this process (broker and client), medians of \(rounds): catch-up through SYNC pages "
                + "\(perEvent(syncCPU, received)) µs, through subscribe \(perEvent(subscribeCPU, delivered)) µs; "
                + "the SELECT \(perEvent(readCPU, rows)) µs per row")
    }
}
