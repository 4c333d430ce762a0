import Logging
import SluiceZMQ

/// A broker thread that works through an inbox (a PULL socket the I/O thread hands work to) and
/// reports on the I/O thread's notice socket: each database's writer, the query readers, the
/// store reader and the auditor. What they share lives here, once: the thread's start, its
/// notice socket, the `stopped` notice the I/O thread waits for before it stops, the log line of
/// a ZeroMQ failure, and the inbox closed on every path (a socket left open would keep the
/// context from terminating).
protocol BrokerWorker: SendableMetatype {
    /// Its name in ``BrokerNotice/stopped(_:)`` and in logs.
    var workerName: String { get }
    var logger: Logger { get }
    /// Works through `inbox` until it is told to stop (the message that says so is its own).
    func serve(inbox: ZMQSocket, notices: ZMQSocket) throws(ZMQError)
}

extension BrokerWorker {
    /// Starts a thread that binds `endpoint`, makes its worker with `make` (on that thread: a
    /// worker's connections and statements stay on it) and serves. Throws when either fails.
    static func start(
        name: String, inbox endpoint: String, context: ZMQContext, threads: BrokerThreads? = nil,
        make: @escaping @Sendable () throws -> Self
    ) throws {
        try BrokerThread.start(name: name, threads: threads) { ready in
            let inbox: ZMQSocket
            let worker: Self
            do {
                inbox = try context.socket(.pull)
                try inbox.setLinger(0)
                try inbox.setReceiveHighWaterMark(0)
                try inbox.bind(endpoint)
            } catch {
                ready(error)
                return
            }
            do {
                worker = try make()
            } catch {
                inbox.close()
                ready(error)
                return
            }
            ready(nil)
            worker.run(context: context, inbox: inbox)
        }
    }

    private func run(context: ZMQContext, inbox: ZMQSocket) {
        defer { inbox.close() }
        do {
            let notices = try context.handoverSocket(to: BrokerIOLoop.noticeEndpoint, linger: 1000)
            defer { notices.close() }
            try serve(inbox: inbox, notices: notices)
            try notices.sendObject(BrokerNotice.stopped(workerName))
        } catch where error.isTerminated {
            // A start that failed after this thread began: the broker ends the context to stop it.
            logger.debug("\(workerName) stopped: the broker's context ended")
        } catch {
            logger.critical("\(workerName) stopped on a ZeroMQ error", metadata: ["error": "\(error)"])
        }
    }
}
