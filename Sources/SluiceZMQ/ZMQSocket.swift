internal import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One ZeroMQ socket, confined to the thread that made it.
///
/// Deliberately not Sendable: libzmq sockets must not be used from two threads, and the compiler
/// enforces that for us. Close it on its own thread before the context terminates.
public final class ZMQSocket {
    /// The socket patterns Sluice uses.
    public enum SocketType: Int32, Sendable, CustomStringConvertible {
        case pair = 0, pub = 1, sub = 2, req = 3, rep = 4, dealer = 5, router = 6, pull = 7, push = 8, xpub = 9

        public var description: String {
            switch self {
            case .pair: "PAIR"
            case .pub: "PUB"
            case .sub: "SUB"
            case .req: "REQ"
            case .rep: "REP"
            case .dealer: "DEALER"
            case .router: "ROUTER"
            case .pull: "PULL"
            case .push: "PUSH"
            case .xpub: "XPUB"
            }
        }
    }

    private(set) var handle: UnsafeMutableRawPointer?
    public let type: SocketType
    /// libzmq calls made on the socket so far. Any of them may take in the signals its
    /// ``signalDescriptor`` would show, so ``ZMQPoller`` asks again only a socket called since it
    /// last asked.
    var calls: UInt64 = 0
    /// The connection properties of the last message received with properties asked for; the
    /// next message from a connection with the same values gets this array (``receive(dontWait:properties:shared:)``).
    private var lastProperties: [String?] = []
    /// ``calls`` as of the last receive without waiting that found nothing queued (`EAGAIN`):
    /// while no call follows, that is what `ZMQ_EVENTS` would say (``ZMQPoller``).
    var foundEmptyAt = UInt64.max

    init(handle: UnsafeMutableRawPointer, type: SocketType) {
        self.handle = handle
        self.type = type
    }

    deinit { close() }

    /// Closes the socket. Pending outgoing messages are kept for at most LINGER.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    func live(_ what: @autoclosure () -> String) throws(ZMQError) -> UnsafeMutableRawPointer {
        calls &+= 1
        guard let handle else { throw ZMQError(errno: ENOTSOCK, message: "socket is closed", context: what()) }
        return handle
    }

    public func bind(_ endpoint: String) throws(ZMQError) {
        let socket = try live("bind \(endpoint)")
        guard zmq_bind(socket, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        let socket = try live("connect \(endpoint)")
        guard zmq_connect(socket, endpoint) == 0 else { throw ZMQError.last("connect \(endpoint)") }
    }

    /// The endpoint actually bound (resolves `tcp://127.0.0.1:*` to its port).
    public var lastEndpoint: String? {
        guard let handle else { return nil }
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The descriptor ZeroMQ signals when something may have changed for this socket
    /// (`ZMQ_FD`), for waiting with `poll` outside ZeroMQ. It is edge-triggered: once it
    /// signals, read until ``hasIncoming`` is false; and any send or receive on the socket may
    /// take in a pending signal, so check ``hasIncoming`` after those too.
    public var signalDescriptor: Int32? {
        guard let handle else { return nil }
        var descriptor: Int32 = -1
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, ZMQ_FD, &descriptor, &size) == 0 else { return nil }
        return descriptor
    }

    /// Whether a message can be received now (`ZMQ_EVENTS` has `ZMQ_POLLIN`); asking also
    /// processes the socket's pending signals.
    public var hasIncoming: Bool { (try? incoming()) ?? false }

    /// ``hasIncoming``, or why the socket cannot say: closed, or its context terminating (`ETERM`).
    func incoming() throws(ZMQError) -> Bool {
        let socket = try live("ZMQ_EVENTS")
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) == 0 else { throw ZMQError.last("get ZMQ_EVENTS") }
        return events & Int32(ZMQ_POLLIN) != 0
    }

    // MARK: Sending

    /// Sends a multipart message. With `dontWait`, a full queue throws an error whose
    /// ``ZMQError/isWouldBlock`` is true instead of blocking.
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) {
        try send(frames, then: [], dontWait: dontWait)
    }

    /// Sends `head` then `tail` as one multipart message, without joining the two arrays (a ROUTER
    /// reply: the envelope, then the frames).
    public func send(_ head: [[UInt8]], then tail: [[UInt8]], dontWait: Bool = false) throws(ZMQError) {
        let socket = try live("send")
        let last = head.count + tail.count - 1
        let flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        // Each frame read in place (no copy of the frame's array per send).
        for index in head.indices {
            let more = index < last ? flags | ZMQ_SNDMORE : flags
            if let error = head[index].withUnsafeBytes({ send($0, on: socket, flags: more) }) { throw error }
        }
        for index in tail.indices {
            let more = head.count + index < last ? flags | ZMQ_SNDMORE : flags
            if let error = tail[index].withUnsafeBytes({ send($0, on: socket, flags: more) }) { throw error }
        }
    }

    /// Sends one frame; the error, if it could not.
    func send(_ frame: UnsafeRawBufferPointer, on socket: UnsafeMutableRawPointer, flags: Int32) -> ZMQError? {
        while zmq_send(socket, frame.baseAddress, frame.count, flags) < 0 {
            if zmq_errno() != EINTR { return ZMQError.last("send on \(type)") }
        }
        return nil
    }

    // MARK: Receiving

    /// Receives one whole multipart message; nil when `dontWait` is set (or RCVTIMEO expires)
    /// and nothing is queued.
    public func receive(dontWait: Bool = false) throws(ZMQError) -> [[UInt8]]? {
        try receive(dontWait: dontWait, property: nil)?.frames
    }

    /// One message as it came in, with where it came from.
    public struct Received {
        public var frames: [[UInt8]]
        /// The requested metadata properties of the sender's connection (e.g. `User-Id`), in the
        /// order asked, nil where the connection has none.
        public var properties: [String?]
        /// The first requested property.
        public var property: String? { properties.first ?? nil }
        /// The file descriptor of the connection it came in on (`ZMQ_SRCFD`); -1 for inproc.
        /// A descriptor is reused once its connection closes: pair it with the socket's monitor
        /// events (accepted, disconnected), which name the same descriptors.
        public var sourceDescriptor: Int32
    }

    /// Receives one message and a metadata property of its connection, e.g. `User-Id` (the
    /// identity the ZAP handler gave the peer that sent it); nil when nothing is queued and
    /// `dontWait` is set.
    public func receive(dontWait: Bool = false, property: String?) throws(ZMQError) -> Received? {
        try receive(dontWait: dontWait, properties: property.map { [$0] } ?? [])
    }

    /// Receives one message and metadata properties of its connection (`User-Id`, or what the
    /// ZAP handler attached); nil when nothing is queued and `dontWait` is set.
    ///
    /// A frame equal to one of `shared` (a protocol's fixed frames: its tag, its message kinds) is
    /// that array, not a copy: a reference taken instead of an allocation and a free per message.
    public func receive(dontWait: Bool = false, properties: [String], shared: [[UInt8]] = []) throws(ZMQError)
        -> Received?
    {
        let socket = try live("receive")
        var received = Received(frames: [], properties: [], sourceDescriptor: -1)
        // Room for a whole Sluice message as a ROUTER receives it (routing id, delimiter, tag,
        // kind, header, body): one allocation instead of regrowing at 1, 2, 4.
        received.frames.reserveCapacity(6)
        var found = false
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        while true {
            let rc = zmq_msg_recv(&message, socket, dontWait && received.frames.isEmpty ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }
                if code == EAGAIN && received.frames.isEmpty {
                    if dontWait { foundEmptyAt = calls }
                    return nil
                }
                throw ZMQError.last("receive on \(type)")
            }
            // A ROUTER makes the routing-id frame itself, without the connection's metadata or
            // descriptor: take both from the first frame that carries them.
            // (Names passed through `withCString`: a String passed as a C string is copied into
            // a new array at every call, several per message.)
            if !found, let first = properties.first, first.withCString({ zmq_msg_gets(&message, $0) }) != nil {
                found = true
                received.properties = self.properties(properties, of: &message)
            }
            if received.sourceDescriptor < 0 { received.sourceDescriptor = zmq_msg_get(&message, ZMQ_SRCFD) }
            let size = zmq_msg_size(&message)
            if size == 0 {
                received.frames.append([])
            } else {
                let data = UnsafeRawBufferPointer(start: zmq_msg_data(&message)!, count: size)
                if let same = shared.first(where: { $0.count == size && $0.elementsEqual(data) }) {
                    received.frames.append(same)
                } else {
                    received.frames.append(Array(data))
                }
            }
            if zmq_msg_more(&message) == 0 {
                if !found && !properties.isEmpty { received.properties = Array(repeating: nil, count: properties.count) }
                return received
            }
        }
    }

    /// The values of the metadata properties `names` of `message`'s connection. A connection's
    /// properties do not change and messages come in runs from one connection, so when they are
    /// the values of the last message, that message's array is returned: no array and no strings
    /// made per message (a run of 8 clients' commands made both for each).
    private func properties(_ names: [String], of message: inout zmq_msg_t) -> [String?] {
        if lastProperties.count == names.count {
            var same = true
            for (index, name) in names.enumerated() where same {
                let value = name.withCString { zmq_msg_gets(&message, $0) }
                same = switch (lastProperties[index], value) {
                case (nil, nil): true
                case (let known?, let value?): known.withCString { strcmp($0, value) == 0 }
                default: false
                }
            }
            if same { return lastProperties }
        }
        lastProperties = names.map { name in name.withCString { zmq_msg_gets(&message, $0) }.map { String(cString: $0) } }
        return lastProperties
    }
}
