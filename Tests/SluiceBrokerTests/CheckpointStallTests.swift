import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// The writer's idle WAL checkpoint never waits for a reader: a command that arrives while a
/// long read holds the WAL is answered while that read is still open.
@Suite(.timeLimit(.minutes(2))) struct CheckpointStallTests {
    @Test func aReaderHoldingTheWALDoesNotStallTheWriter() throws {
        // Idle maintenance (sweep + checkpoint) right after every batch.
        let broker = try RunningBroker { $0.idleCheckpointMs = 0 }
        let socket = try broker.socket(.dealer, receiveTimeoutMs: 3000)
        func send(_ key: String) throws -> WireMessage? {
            try socket.request(
                CommandRequest(
                    requestID: key, contract: ContractID("task.create@v1")!, idempotencyKey: key, payload: ["title": "c"]
                ).message())
        }
        #expect(try send("first")?.kind == .ack)
        let reader = try broker.open()
        try reader.inDatabase { db in
            // A read transaction on the first commit's snapshot: a RESTART checkpoint must wait
            // for it to end before the WAL can start over.
            try db.beginTransaction(.deferred)
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks")
            // The writer checkpoints as soon as it is idle; this command reaches it meanwhile. With
            // the checkpoint in SQLite's busy handler (5 s) this reply would not come within the
            // socket's 3 s: the read below only ends after it.
            let second = try send("second")
            #expect(second?.kind == .ack, "the writer stalled behind its checkpoint")
            try db.commit()
        }
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 2)
    }
}

/// An idle checkpoint leaves the WAL file for the next commits to write over (a commit that grows
/// the file costs about twice one that does not), and the file comes back to its limit once it
/// starts over.
@Suite(.timeLimit(.minutes(2))) struct WALSizeTests {
    @Test func aWALThatGrewPastItsLimitComesBackToItAndIsNotEmptied() throws {
        let limit: Int64 = 64 << 10
        let broker = try RunningBroker {
            $0.walSizeLimitBytes = limit
            $0.idleCheckpointMs = 0  // idle maintenance after every batch
        }
        let wal = broker.broker.configuration.dataDirectory.appendingPathComponent("tasks.db-wal").path
        func walSize() throws -> Int64 {
            (try FileManager.default.attributesOfItem(atPath: wal)[.size] as? NSNumber)?.int64Value ?? 0
        }
        let connection = try SluiceConnection(endpoint: broker.commandEndpoint, credentials: broker.operatorCredentials())
        defer { connection.close() }
        try connection.send("task.create@v1", ["title": "first"], idempotencyKey: "first")

        // A reader holds the first commit's snapshot while 400 commands commit: no checkpoint can
        // let the WAL start over, so it grows well past the limit.
        let reader = try broker.open()
        try reader.inDatabase { db in
            try db.beginTransaction(.deferred)
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks")
            var next = 0
            var answered = 0
            while answered < 400 {
                while next < 400, next - answered < 64 {
                    _ = try connection.submit(
                        "task.create@v1", ["title": .string(String(repeating: "w", count: 150) + "\(next)")],
                        idempotencyKey: "grow-\(next)")
                    next += 1
                }
                let reply = try #require(try connection.nextReply(timeout: .seconds(20)))
                _ = try reply.outcome.get()
                answered += 1
            }
            #expect(try walSize() > 2 * limit, "the WAL grew while the reader held it")
            try db.commit()
        }

        // Reader gone: the next idle checkpoint completes, and the commit after it starts the WAL
        // over, cut back to the limit — not to nothing.
        var commands = 0
        while try walSize() > limit, commands < 20 {
            try connection.send("task.create@v1", ["title": "after"], idempotencyKey: "after-\(commands)")
            commands += 1
        }
        let size = try walSize()
        // Exactly the limit: SQLite cuts a WAL that starts over back to journal_size_limit (a
        // TRUNCATE checkpoint would leave only the last commit's few frames).
        #expect(size == limit, "the WAL is \(size) bytes after \(commands) more commands")
        #expect(try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks") == 401 + commands)
    }
}
