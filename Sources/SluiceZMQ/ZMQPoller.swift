internal import CZeroMQ

/// Waits until any of several sockets or file descriptors is readable (`zmq_poll`).
///
/// Built on the owning thread from sockets that thread owns; not Sendable for the same reason.
public struct ZMQPoller {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a socket; returns its index in ``poll(timeoutMilliseconds:)``'s answer.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Adds a plain file descriptor (an eventfd, a pipe); returns its index.
    @discardableResult
    public mutating func add(fileDescriptor: Int32) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Stops or resumes watching the item at `index` (a paused item is never reported readable).
    public mutating func watch(_ index: Int, _ watching: Bool) {
        items[index].events = watching ? Int16(ZMQ_POLLIN) : 0
        items[index].revents = 0
    }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns which items are readable.
    /// A signal interrupting the wait returns all-false rather than throwing.
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> [Bool] {
        let count = items.count
        let rc = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, Int32(count), timeoutMilliseconds)
        }
        if rc < 0 {
            let error = ZMQError.last("zmq_poll")
            if error.isInterrupted { return Array(repeating: false, count: count) }
            throw error
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
