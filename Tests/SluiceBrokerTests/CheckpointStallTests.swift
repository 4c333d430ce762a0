import Foundation
import GRDB
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// The writer's idle WAL checkpoint never waits for a reader: a command that arrives while a
/// long read holds the WAL is answered while that read is still open.
@Suite(.timeLimit(.minutes(1))) struct CheckpointStallTests {
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
            // A read transaction on the first commit's snapshot: a TRUNCATE checkpoint must wait
            // for it to end before it can reset the WAL.
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
