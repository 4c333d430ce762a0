public import Foundation

/// Runs a long, blocking test body (synchronous socket loops, child processes) on a thread of its
/// own, so it does not hold one of the few threads of Swift's cooperative pool (two on a
/// two-core machine) and starve the async tests running beside it.
public func onDedicatedThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Swift.Result { try body() })
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
