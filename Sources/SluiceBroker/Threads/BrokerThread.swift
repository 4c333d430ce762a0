import Foundation
import Synchronization

/// Starting one of the broker's threads: the thread sets itself up (binds its sockets, opens
/// what it works on) and reports; the starter waits for that report, so a thread that cannot set
/// itself up fails ``Broker/start()`` instead of leaving a broker that silently lacks it.
enum BrokerThread {
    /// What a starting thread reports: nil once it is set up, or why it could not be.
    typealias Ready = @Sendable ((any Error)?) -> Void

    /// Starts the thread `name` running `body`, which must call `ready` exactly once, before its
    /// long work; returns once it has, and throws the error it reported. With `threads`, the
    /// thread counts as running until `body` and everything it captured are let go.
    static func start(
        name: String, threads: BrokerThreads? = nil, _ body: @escaping @Sendable (_ ready: Ready) -> Void
    ) throws {
        let reported = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let held = HeldBody(body)
        threads?.entered()
        let thread = Thread {
            held.runOnce { error in
                if let error { failure.withLock { $0 = "\(error)" } }
                reported.signal()
            }
            threads?.left()
        }
        thread.name = name
        thread.start()
        reported.wait()
        if let message = failure.withLock({ $0 }) { throw BrokerStateError(message: "\(name): \(message)") }
    }
}

/// The threads a broker started that have not finished. A thread's body holds what it works on
/// (database files, their connections): ``Broker/wait()`` (and a failed ``Broker/start()``)
/// returns only once every thread has let go of its body, so the files close when the caller
/// lets go of the broker — not a moment later on a thread still unwinding, while the caller opens
/// them again (closing a WAL file's last connection checkpoints it under an exclusive lock).
final class BrokerThreads: Sendable {
    private let running = DispatchGroup()

    func entered() { running.enter() }
    func left() { running.leave() }

    /// Waits until every thread has finished, at most `seconds`; false if some had not.
    func waitUntilFinished(seconds: Int) -> Bool {
        running.wait(timeout: .now() + .seconds(seconds)) == .success
    }
}

/// A thread's body, taken out and let go when it returns (a `Thread` keeps its closure, and so
/// what the closure captured, until it is itself deallocated).
private final class HeldBody: @unchecked Sendable {
    // Unchecked: `body` is read and cleared once, on the thread that runs it.
    private var body: (@Sendable (_ ready: BrokerThread.Ready) -> Void)?

    init(_ body: @escaping @Sendable (_ ready: BrokerThread.Ready) -> Void) { self.body = body }

    func runOnce(_ ready: @escaping BrokerThread.Ready) {
        guard let body else { return }
        self.body = nil
        body(ready)
    }
}
