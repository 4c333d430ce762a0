#if canImport(Glibc)
    import Glibc
    internal import CZeroMQ
#elseif canImport(Musl)
    import Musl
#endif

/// An eventfd that any thread may ring and one socket thread polls next to its sockets.
///
/// This is how callers on arbitrary threads (Swift tasks) wake a thread that owns ZeroMQ sockets
/// without touching those sockets: they put work in a locked queue and ring; the owner drains.
public final class Doorbell: Sendable {
    public let fileDescriptor: Int32

    public init() {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(fd >= 0, "eventfd failed: errno \(errno)")
        fileDescriptor = fd
    }

    deinit { Glibc.close(fileDescriptor) }

    /// Wakes the polling thread. Cheap and safe from any thread; rings coalesce.
    public func ring() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
    }

    /// Clears pending rings; the polling thread calls this before draining its queue.
    public func reset() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
    }
}
