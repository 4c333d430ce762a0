import Foundation
import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// The single writer of one database file, on its own thread.
///
/// It blocks on its inbox, then drains whatever else is queued (up to `maxBatchSize`) and runs the
/// lot in one `BEGIN IMMEDIATE … COMMIT`: group commit, so the fsync is paid once per batch, not
/// per command. Outcomes go back to the I/O thread only after COMMIT returns.
final class CommandWriter {
    let database: DatabaseFile
    let maxBatchSize: Int
    let idleCheckpointMs: Int32
    let logger: Logger
    /// Keys `hash` redactions in audit events.
    let auditKey: [UInt8]
    var nextSeq: Int64
    let recorder = ChangeRecorder()

    init(database: DatabaseFile, maxBatchSize: Int, idleCheckpointMs: Int, auditKey: [UInt8], logger: Logger) throws {
        self.database = database
        self.auditKey = auditKey
        self.maxBatchSize = maxBatchSize
        self.idleCheckpointMs = Int32(idleCheckpointMs)
        self.logger = logger
        self.nextSeq = try database.lastSeq() + 1
        database.pool.writeWithoutTransaction { [recorder] db in db.add(transactionObserver: recorder) }
    }

    static func inboxEndpoint(_ database: String) -> String { "inproc://sluice-writer-\(database)" }

    /// The thread body: runs until `drainAndStop` arrives or the context terminates.
    func run(context: ZMQContext, inbox: ZMQSocket, noticeEndpoint: String) {
        do {
            let notices = try context.socket(.push)
            try notices.setLinger(1000)
            try notices.setSendHighWaterMark(0)
            try notices.connect(noticeEndpoint)
            defer { notices.close() }
            var stopping = false
            var checkpointed = true
            while !stopping {
                try inbox.setReceiveTimeout(checkpointed ? -1 : idleCheckpointMs)
                guard let first = try inbox.receiveObject(WriterMessage.self) else {
                    checkpoint()
                    checkpointed = true
                    continue
                }
                var batch: [AdmittedCommand] = []
                func take(_ message: WriterMessage) {
                    switch message {
                    case .command(let command): batch.append(command)
                    case .drainAndStop: stopping = true
                    }
                }
                take(first)
                while batch.count < maxBatchSize, !stopping,
                    let next = try inbox.receiveObject(WriterMessage.self, dontWait: true)
                {
                    take(next)
                }
                if !batch.isEmpty {
                    let outcomes = runBatch(batch)
                    try notices.sendObject(BrokerNotice.outcomes(outcomes))
                    checkpointed = false
                }
            }
            checkpoint()
            try notices.sendObject(BrokerNotice.stopped(database.name))
        } catch {
            logger.critical(
                "writer stopped on a ZeroMQ error", metadata: ["db": "\(database.name)", "error": "\(error)"])
        }
        inbox.close()
    }

    /// Keeps the WAL from growing without bound once the writer goes idle.
    private func checkpoint() {
        do {
            try database.pool.writeWithoutTransaction { db in
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            logger.warning("WAL checkpoint failed", metadata: ["db": "\(database.name)", "error": "\(error)"])
        }
    }
}
