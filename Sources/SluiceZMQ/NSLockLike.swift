import Synchronization

/// A tiny mutual-exclusion lock for the few places in this module that guard plain state.
final class NSLockLike: Sendable {
    private let mutex = Mutex<Void>(())

    func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        try mutex.withLock { _ in try body() }
    }
}
