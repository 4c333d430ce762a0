import ArgumentParser
import Foundation
import GRDB
import SluiceBroker
import SluiceWire

/// The ceiling for `sluice-bench write`: one process writing exactly the rows the broker writes
/// per command — the data row and the command-log row (which is the command's idempotency entry
/// too), in the broker's own schema and indexes — in transactions of 1,000 commands with `synchronous=FULL`. No
/// sockets, no JSON, no threads: what SQLite alone costs for the same durable work.
enum BenchCeiling {
    /// Runs `Benchmarks/ceiling.c` (built at `executable`) when it exists — SQLite through its C
    /// API, the fair ceiling — else the same work through GRDB in this process.
    static func run(in directory: URL, commands: Int, executable: String, keys: BenchKeys = .timeOrdered) throws
        -> BenchResult
    {
        // The broker makes the file and its schema (then stops): the ceiling writes into the same.
        try BenchBroker(in: directory).stop()
        let path = directory.appendingPathComponent("data/bench.db").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            return try runWithGRDB(path: path, commands: commands, keys: keys)
        }
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [path, "\(commands)", keys.rawValue]
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let report = try JSONValue(parsing: Array(output))
        guard process.terminationStatus == 0, let seconds = report["seconds"]?.doubleValue,
            let cpu = report["cpu_seconds"]?.doubleValue
        else { throw ValidationError("the ceiling program failed (status \(process.terminationStatus))") }
        // Each command waits for its batch of 1,000: the batch time, spread evenly.
        let perBatch = seconds / Double((commands + 999) / 1000) * 1e6
        return BenchResult(
            path: "ceiling (C): the same rows, one process, 1,000 per transaction", processes: 1, window: 1000,
            samples: Array(repeating: perBatch, count: commands), seconds: seconds, serverCPU: cpu, clientCPU: 0,
            commandsPerCommit: 1000)
    }

    static func runWithGRDB(path: String, commands: Int, keys: BenchKeys) throws -> BenchResult {
        var configuration = Configuration()
        configuration.journalMode = .wal
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let timestamp = "2026-11-30T12:00:00.000Z"
        let cpu = CPUTime.now()
        let started = Date()
        var samples: [Double] = []
        samples.reserveCapacity(commands)
        var seq: Int64 = 0
        for batchStart in stride(from: 0, to: commands, by: 1000) {
            let batchStarted = ContinuousClock.now
            let count = min(1000, commands - batchStart)
            try queue.write { db in
                let data = try db.cachedStatement(sql: "INSERT INTO bench(client, n, payload) VALUES (?, ?, ?)")
                let log = try db.cachedStatement(
                    sql: """
                        INSERT INTO sluice_log(seq, ts, actor, contract, idempotency_key, request_id, generated_id,
                            payload, status, result, changes, latency_us, payload_hash, expires_ms)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                for n in batchStart..<(batchStart + count) {
                    seq += 1
                    let client = n % 8
                    let payload = BenchWorker.payload(client, n)
                    let key = keys.key(client, n)
                    let json = #"{"client":\#(client),"n":\#(n),"payload":"\#(payload)"}"#
                    try data.execute(arguments: [client, n, payload])
                    try log.execute(arguments: [
                        seq, timestamp, "local", "bench.insert@v1", key, "\(n)", "6f1c0000-0000-4000-8000-000000000000",
                        json, "ok", #"{"changes":1,"rows":[]}"#, #"{"tables":{"bench":[\#(seq)]}}"#, 100,
                        String(repeating: "a", count: 64), Int64(1_800_000_000_000),
                    ])
                }
            }
            let batch = batchStarted.duration(to: .now)
            let micros = Double(batch.components.seconds) * 1e6 + Double(batch.components.attoseconds) / 1e12
            samples += Array(repeating: micros, count: count)  // each command waits for its batch
        }
        let seconds = Date().timeIntervalSince(started)
        let used = CPUTime.now() - cpu
        return BenchResult(
            path: "ceiling (GRDB, no C build found): the same rows, one process, 1,000 per transaction", processes: 1,
            window: 1000,
            samples: samples, seconds: seconds, serverCPU: used.selfSeconds, clientCPU: 0, commandsPerCommit: 1000)
    }
}
