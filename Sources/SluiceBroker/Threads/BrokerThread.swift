import Foundation
import Synchronization

/// Starting one of the broker's threads: the thread sets itself up (binds its sockets, opens
/// what it works on) and reports; the starter waits for that report, so a thread that cannot set
/// itself up fails ``Broker/start()`` instead of leaving a broker that silently lacks it.
enum BrokerThread {
    /// What a starting thread reports: nil once it is set up, or why it could not be.
    typealias Ready = @Sendable ((any Error)?) -> Void

    /// Starts the thread `name` running `body`, which must call `ready` exactly once, before its
    /// long work; returns once it has, and throws the error it reported.
    static func start(name: String, _ body: @escaping @Sendable (_ ready: Ready) -> Void) throws {
        let reported = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let thread = Thread {
            body { error in
                if let error { failure.withLock { $0 = "\(error)" } }
                reported.signal()
            }
        }
        thread.name = name
        thread.start()
        reported.wait()
        if let message = failure.withLock({ $0 }) { throw BrokerStateError(message: "\(name): \(message)") }
    }
}
