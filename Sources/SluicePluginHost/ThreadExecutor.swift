import Foundation
import Synchronization

/// A task executor backed by one dedicated thread: every job of a plugin's tasks runs there, so
/// a plugin that blocks its thread blocks only itself, never the cooperative pool or other plugins.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // Safe: `jobs` is guarded by its mutex; the thread only reads it under the lock, and
    // `UnownedJob` is handed over, not shared.
    private let jobs = Mutex<[UnownedJob]>([])
    private let signal = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        signal.signal()
    }

    /// Lets the thread end once its queue is empty. A thread stuck inside a job never ends; it
    /// is abandoned (that is the price of a hung plugin).
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        signal.signal()
    }

    private func loop() {
        while true {
            signal.wait()
            let batch = jobs.withLock { queued in
                defer { queued.removeAll(keepingCapacity: true) }
                return queued
            }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            if batch.isEmpty, stopped.load(ordering: .sequentiallyConsistent) { return }
        }
    }
}
