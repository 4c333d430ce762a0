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
        let pointer = Unmanaged.passRetained(ObjectBox(value)).toOpaque()
        var address = UInt(bitPattern: pointer)
        let frame = withUnsafeBytes(of: &address) { Array($0) }
        do {
            try send([frame], dontWait: dontWait)
        } catch {
            Unmanaged<ObjectBox<Value>>.fromOpaque(pointer).release()
            throw error
        }
    }

    /// Receives a value sent with ``sendObject(_:dontWait:)``; nil when nothing is queued and
    /// `dontWait` is set. The sender and receiver must agree on `Value`.
    public func receiveObject<Value: Sendable>(_: Value.Type, dontWait: Bool = false) throws(ZMQError) -> Value? {
        guard let frames = try receive(dontWait: dontWait) else { return nil }
        guard frames.count == 1, frames[0].count == MemoryLayout<UInt>.size else {
            throw ZMQError(errno: EPROTO, message: "not an object hand-over frame", context: "receiveObject")
        }
        let address = frames[0].withUnsafeBytes { $0.load(as: UInt.self) }
        let pointer = UnsafeRawPointer(bitPattern: address)!
        return Unmanaged<ObjectBox<Value>>.fromOpaque(pointer).takeRetainedValue().value
    }
}
