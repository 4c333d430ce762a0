internal import CZeroMQ

/// A ZeroMQ context: the I/O threads and the `inproc://` namespace that sockets share.
///
/// libzmq documents contexts as thread safe, which is the one reason this type may be Sendable;
/// sockets are not, see ``ZMQSocket``.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let lock = NSLockLike()
    private var terminated = false

    public init(ioThreads: Int32 = 1) {
        guard let handle = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: out of memory") }
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        self.handle = handle
    }

    /// Terminates the context. Blocks until every socket made from it is closed, so each owning
    /// thread must close its sockets (with LINGER set) first.
    public func terminate() {
        let shouldTerminate = lock.withLock { () -> Bool in
            defer { terminated = true }
            return !terminated
        }
        guard shouldTerminate else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// Makes a socket. The caller's thread owns it from now on.
    public func socket(_ type: ZMQSocket.SocketType) throws(ZMQError) -> ZMQSocket {
        guard let socket = zmq_socket(handle, type.rawValue) else { throw ZMQError.last("zmq_socket(\(type))") }
        return ZMQSocket(handle: socket, type: type)
    }

    deinit { terminate() }

    /// libzmq's version, e.g. "4.3.4".
    public static var libraryVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
