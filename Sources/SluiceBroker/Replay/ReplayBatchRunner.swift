import Foundation

/// Runs a replay's batches on a thread of its own while the replaying thread reads and parses the
/// next ones from the log, so reading and writing overlap on two cores (benchmarks.md, "Replay and
/// catch-up"). At most `depth` batches wait; the first failure stops the runner, and the replaying
/// thread learns of it at its next ``submit(_:)`` or at ``finish()``.
///
/// A batch that ran is handed back and let go by the replaying thread, at its next ``submit(_:)``
/// (or at ``finish()``): freeing a batch — a thousand commands and log rows, each with its strings
/// and parsed payload — took 7.6% of the runner's time in a replay's profile, on the thread that
/// bounds a replay, and the replaying thread, which allocated it, has time to spare.
final class ReplayBatchRunner<Batch>: @unchecked Sendable {
    // Unchecked: `run` (and the writer it captures) is only ever called and let go on the
    // runner's thread, one batch at a time; every other member is read and written under
    // `condition`'s lock.
    /// Let go before the thread says it stopped: what it captured (the rebuilt file's writer) is
    /// then closed by the replaying thread, before the replay returns — not by this thread after
    /// it, when a caller may already be opening the file.
    private var run: ((Batch) throws -> Void)?
    private let depth: Int
    private let condition = NSCondition()
    private var waiting: [Batch] = []
    /// Batches that ran, for the replaying thread to let go.
    private var ran: [Batch] = []
    /// No more batches will come.
    private var closed = false
    /// The runner's thread has returned: nothing runs any more.
    private var stopped = false
    private var failure: (any Error)?

    init(name: String, depth: Int = 2, run: @escaping (Batch) throws -> Void) {
        self.run = run
        self.depth = depth
        let thread = Thread { [self] in serve() }
        thread.name = name
        thread.start()
    }

    /// Queues `batch`, waiting while `depth` batches wait; throws the runner's failure, if any.
    /// Lets go of the batches that ran since the last call (``locked(_:)``'s result, dropped
    /// after the lock is released).
    func submit(_ batch: Batch) throws {
        _ = try locked { () throws -> [Batch] in
            while waiting.count >= depth, failure == nil { condition.wait() }
            if let failure { throw failure }
            waiting.append(batch)
            condition.broadcast()
            return takeRan()
        }
    }

    /// Waits until every queued batch has run; throws the first failure.
    func finish() throws {
        _ = try locked { () throws -> [Batch] in
            closed = true
            condition.broadcast()
            while !stopped { condition.wait() }
            if let failure { throw failure }
            return takeRan()
        }
    }

    /// Drops the batches still waiting and waits for the one running: once it returns, nothing
    /// runs on the writer any more.
    func cancel() {
        _ = locked { () -> [Batch] in
            closed = true
            waiting.removeAll()
            condition.broadcast()
            while !stopped { condition.wait() }
            return takeRan()
        }
    }

    private func locked<Result>(_ body: () throws -> Result) rethrows -> Result {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    /// Under the lock.
    private func takeRan() -> [Batch] {
        defer { ran = [] }
        return ran
    }

    private func serve() {
        while let batch = next(), let run {
            do {
                try run(batch)
                condition.lock()
                ran.append(batch)
                condition.unlock()
            } catch {
                condition.lock()
                failure = error
                waiting.removeAll()
                condition.unlock()
                break
            }
        }
        run = nil
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next batch to run, once there is one; nil when the runner is closed and drained.
    private func next() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while waiting.isEmpty, !closed { condition.wait() }
        guard !waiting.isEmpty else { return nil }
        condition.broadcast()  // a slot is free
        return waiting.removeFirst()
    }
}
