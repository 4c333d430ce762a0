public import SluiceClient
public import SluiceWire
public import SluiceZMQ

/// A plain DEALER or REQ socket for tests that build frames by hand. Use it synchronously, on one
/// thread (no `await` between making it and closing it).
public final class RawSocket {
    public let context = ZMQContext()
    public let socket: ZMQSocket
    /// The socket's handshake outcomes, when made with `watchHandshakes`.
    let handshakes: ZMQSocket?

    /// With `reconnect: false` a refused handshake is not tried again (one refusal per socket).
    public init(
        _ type: ZMQSocket.SocketType, endpoint: String, credentials: ClientCredentials? = nil,
        receiveTimeoutMs: Int32 = 10_000, watchHandshakes: Bool = false, reconnect: Bool = true
    ) throws {
        socket = try context.socket(type)
        try socket.setLinger(0)
        // CURVE on tcp when the credentials have keys; otherwise PLAIN (which a tcp endpoint refuses).
        if let curve = credentials?.curve, endpoint.hasPrefix("tcp://") {
            try socket.setCurveClient(
                serverKey: curve.serverPublicKey, publicKey: curve.publicKey, secretKey: curve.secretKey)
        } else if let credentials {
            try socket.setPlainCredentials(username: credentials.name, password: credentials.token)
        }
        try socket.setReceiveTimeout(receiveTimeoutMs)
        if !reconnect { try socket.setReconnectInterval(-1) }
        if watchHandshakes {
            let endpoint = "inproc://test-handshakes"
            try socket.monitor(endpoint: endpoint, events: [
                .handshakeSucceeded, .handshakeFailedAuth, .handshakeFailedNoDetail, .handshakeFailedProtocol,
                .disconnected,
            ])
            let pair = try context.socket(.pair)
            try pair.setLinger(0)
            try pair.setReceiveTimeout(receiveTimeoutMs)
            try pair.connect(endpoint)
            handshakes = pair
        } else {
            handshakes = nil
        }
        try socket.connect(endpoint)
    }

    /// The outcome of the socket's next handshake (needs `watchHandshakes`), or nil after the
    /// receive timeout.
    public func nextHandshake() throws -> ZMQMonitorEvent? {
        guard let frames = try handshakes?.receive() else { return nil }
        return ZMQMonitorEvent(frames: frames)
    }

    public func send(_ frames: [[UInt8]]) throws { try socket.send(frames) }

    /// The next message, or nil after the receive timeout.
    public func receive() throws -> [[UInt8]]? { try socket.receive() }

    /// Reads events (a SUB socket) and hands each to `handle` until it returns true, for at most
    /// `within` of wall time; false when the time ran out. A bound in time, not in heartbeats: a
    /// test starved of CPU while heartbeats queue up would otherwise count them all at once and
    /// give up just before the event it waits for.
    public func awaitEvents(within: Duration = .seconds(60), _ handle: (Event) throws -> Bool) throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            guard let frames = try socket.receive() else { continue }  // (the receive timeout passed)
            if try handle(try Event(frames: frames)) { return true }
        }
        return false
    }

    /// Sends a well-formed request (with the DEALER delimiter when needed) and decodes the reply.
    public func request(_ message: WireMessage) throws -> WireMessage? {
        let delimiter: [[UInt8]] = socket.type == .dealer ? [[]] : []
        try send(delimiter + message.frames())
        return try receiveMessage()
    }

    public func receiveMessage() throws -> WireMessage? {
        guard var frames = try receive() else { return nil }
        if socket.type == .dealer {
            guard frames.first == [] else { return nil }
            frames.removeFirst()
        }
        return try WireMessage(frames: frames)
    }

    deinit {
        handshakes?.close()
        socket.close()
        context.terminate()
    }
}

/// UTF-8 bytes of a string, for building frames by hand.
public func frame(_ text: String) -> [UInt8] { Array(text.utf8) }
