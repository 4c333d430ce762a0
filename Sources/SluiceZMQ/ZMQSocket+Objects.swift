internal import CZeroMQ

/// Handing Swift values between threads over `inproc://` PUSH/PULL without serializing them.
///
/// This is the one ownership hand-over point: the sender retains a box around a Sendable value and
/// sends its address as an 8-byte frame; the single receiver takes the retain back. The value is
/// Sendable, so moving it across threads is sound; ZeroMQ provides the queueing, ordering and
/// wake-up. A message still queued when a socket closes leaks its box, which only happens at
/// process shutdown.
private final class ObjectBox<Value: Sendable> {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension ZMQSocket {
    /// Sends `value` to the peer thread. Only for `inproc://` sockets within one process.
    ///
    /// Does not block by default: hand-over sockets have no high-water mark, so a send to a
    /// connected peer always queues at once, and a send to a peer that has gone (its thread
    /// stopped) fails at once with `EAGAIN` instead of waiting forever for it.
    public func sendObject<Value: Sendable>(_ value: Value, dontWait: Bool = true) throws(ZMQError) {
        let socket = try live("send")
        let pointer = Unmanaged.passRetained(ObjectBox(value)).toOpaque()
        var address = UInt(bitPattern: pointer)
        // The address's 8 bytes sent from where they are: no frame array per hand-over.
        let error = withUnsafeBytes(of: &address) { send($0, on: socket, flags: dontWait ? ZMQ_DONTWAIT : 0) }
        if let error {
            Unmanaged<ObjectBox<Value>>.fromOpaque(pointer).release()
            throw error
        }
    }

    /// Receives a value sent with ``sendObject(_:dontWait:)``; nil when nothing is queued and
    /// `dontWait` is set. The sender and receiver must agree on `Value`.
    public func receiveObject<Value: Sendable>(_: Value.Type, dontWait: Bool = false) throws(ZMQError) -> Value? {
        let socket = try live("receive")
        var address: UInt = 0
        while true {
            // Straight into `address`: no frame arrays for an 8-byte message.
            let size = withUnsafeMutableBytes(of: &address) {
                zmq_recv(socket, $0.baseAddress, $0.count, dontWait ? ZMQ_DONTWAIT : 0)
            }
            if size >= 0 {
                // A message that is not one 8-byte frame is taken in whole and refused.
                let moreFrames = discardRemainingFrames(of: socket)
                guard size == MemoryLayout<UInt>.size, !moreFrames else {
                    throw ZMQError(errno: EPROTO, message: "not an object hand-over frame", context: "receiveObject")
                }
                break
            }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN {
                if dontWait { foundEmptyAt = calls }
                return nil
            }
            throw ZMQError.last("receive on \(type)")
        }
        let pointer = UnsafeRawPointer(bitPattern: address)!
        return Unmanaged<ObjectBox<Value>>.fromOpaque(pointer).takeRetainedValue().value
    }

    /// Receives and drops what is left of a multipart message; true when there was anything.
    private func discardRemainingFrames(of socket: UnsafeMutableRawPointer) -> Bool {
        var discarded = false
        var more: Int32 = 0
        var size = MemoryLayout<Int32>.size
        while zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &size) == 0, more != 0 {
            discarded = true
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            guard zmq_msg_recv(&message, socket, 0) >= 0 else { break }
        }
        return discarded
    }
}
