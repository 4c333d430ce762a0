internal import CZeroMQ

/// A failed ZeroMQ call: the errno it left and libzmq's text for it.
public struct ZMQError: Error, Sendable, Equatable, CustomStringConvertible {
    public var errno: Int32
    /// Our own words, for a failure that is not libzmq's; nil: libzmq's text for `errno`.
    private var detail: String?
    /// What we were doing ("bind ipc:///tmp/x.sock").
    public var context: String

    public init(errno: Int32, message: String, context: String) {
        self.errno = errno
        detail = message
        self.context = context
    }

    private init(errno: Int32, context: String) {
        self.errno = errno
        self.context = context
    }

    /// libzmq's text for `errno` (looked up when asked: a receive that finds nothing queued fails
    /// with `EAGAIN` many times a second, and `strerror` goes through gettext every time).
    public var message: String { detail ?? String(cString: zmq_strerror(errno)) }

    public var description: String { "\(context): \(message) (errno \(errno))" }

    /// True when the call would have blocked (`EAGAIN`): a timeout or a full/empty queue.
    public var isWouldBlock: Bool { errno == EAGAIN }
    /// True when the context is being terminated (`ETERM`): the owning thread should close up.
    public var isTerminated: Bool { errno == ETERM }
    /// True when a blocking call was interrupted by a signal (`EINTR`): retry it.
    public var isInterrupted: Bool { errno == EINTR }
    /// True when a ROUTER with `ROUTER_MANDATORY` could not route to the peer (`EHOSTUNREACH`).
    public var isUnroutable: Bool { errno == EHOSTUNREACH }

    static func last(_ context: @autoclosure () -> String) -> ZMQError {
        ZMQError(errno: zmq_errno(), context: context())
    }
}
