import GRDB
import Logging
import SluiceWire
import SluiceZMQ

/// Answers `STATUS` ("did key K commit?") from the ledgers, on its own thread and WAL read
/// connections, so a lookup never waits behind a writer's batch nor blocks the I/O thread.
final class LedgerReader {
    struct Lookup: Sendable {
        var token: UInt64
        var actor: String
        var key: String
        /// Restricts the lookup to one database; nil searches all of them.
        var database: String?
    }

    enum Message: Sendable {
        case lookup(Lookup)
        case stop
    }

    static let inboxEndpoint = "inproc://sluice-ledger-reader"

    let databases: [String: DatabaseFile]
    let logger: Logger

    init(databases: [String: DatabaseFile], logger: Logger) {
        self.databases = databases
        self.logger = logger
    }

    func run(context: ZMQContext, inbox: ZMQSocket, noticeEndpoint: String) {
        do {
            let notices = try context.socket(.push)
            try notices.setLinger(1000)
            try notices.setSendHighWaterMark(0)
            try notices.connect(noticeEndpoint)
            defer { notices.close() }
            loop: while let message = try inbox.receiveObject(Message.self) {
                switch message {
                case .lookup(let lookup):
                    try notices.sendObject(BrokerNotice.status(token: lookup.token, status(for: lookup)))
                case .stop:
                    try notices.sendObject(BrokerNotice.stopped("ledger-reader"))
                    break loop
                }
            }
        } catch {
            logger.critical("ledger reader stopped on a ZeroMQ error", metadata: ["error": "\(error)"])
        }
        inbox.close()
    }

    func status(for lookup: Lookup) -> CommandStatus {
        let names = lookup.database.map { [$0] } ?? databases.keys.sorted()
        for name in names {
            guard let database = databases[name] else { continue }
            do {
                let entry = try database.pool.read { db in
                    try IdempotencyLedger.lookup(actor: lookup.actor, key: lookup.key, in: db)
                }
                if let entry { return entry.status(db: name) }
            } catch {
                logger.error("ledger lookup failed", metadata: ["db": "\(name)", "error": "\(error)"])
            }
        }
        return .unknown
    }
}
