internal import CZeroMQ

extension ZMQSocket {
    /// Milliseconds unsent messages may delay `close`; Sluice always sets a finite value so the
    /// context can terminate.
    public func setLinger(_ milliseconds: Int32) throws(ZMQError) { try setInt(ZMQ_LINGER, milliseconds, "LINGER") }
    /// Queue limit (messages) per peer for outgoing messages.
    public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) { try setInt(ZMQ_SNDHWM, messages, "SNDHWM") }
    /// Queue limit (messages) per peer for incoming messages.
    public func setReceiveHighWaterMark(_ messages: Int32) throws(ZMQError) {
        try setInt(ZMQ_RCVHWM, messages, "RCVHWM")
    }
    /// Makes a ROUTER report unroutable replies (`EHOSTUNREACH`) instead of dropping them silently.
    public func setRouterMandatory(_ on: Bool) throws(ZMQError) {
        try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, "ROUTER_MANDATORY")
    }
    /// Largest inbound frame; a peer that sends more is disconnected by libzmq.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) {
        var value = bytes
        try set(ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size, "MAXMSGSIZE")
    }
    /// ZMTP heartbeats: ping every `interval` ms, drop the peer after `timeout` ms without traffic.
    public func setHeartbeat(interval: Int32, timeout: Int32, ttl: Int32) throws(ZMQError) {
        try setInt(ZMQ_HEARTBEAT_IVL, interval, "HEARTBEAT_IVL")
        try setInt(ZMQ_HEARTBEAT_TIMEOUT, timeout, "HEARTBEAT_TIMEOUT")
        try setInt(ZMQ_HEARTBEAT_TTL, ttl, "HEARTBEAT_TTL")
    }
    /// Milliseconds a blocking receive waits before returning nil; -1 waits forever.
    public func setReceiveTimeout(_ milliseconds: Int32) throws(ZMQError) {
        try setInt(ZMQ_RCVTIMEO, milliseconds, "RCVTIMEO")
    }
    /// Milliseconds a blocking send waits before failing with EAGAIN; -1 waits forever.
    public func setSendTimeout(_ milliseconds: Int32) throws(ZMQError) {
        try setInt(ZMQ_SNDTIMEO, milliseconds, "SNDTIMEO")
    }
    /// Queue messages only to completed connections (avoids filling a pipe to a peer that never came).
    public func setImmediate(_ on: Bool) throws(ZMQError) { try setInt(ZMQ_IMMEDIATE, on ? 1 : 0, "IMMEDIATE") }
    /// Reconnect interval in ms after a connection drops.
    public func setReconnectInterval(_ milliseconds: Int32) throws(ZMQError) {
        try setInt(ZMQ_RECONNECT_IVL, milliseconds, "RECONNECT_IVL")
    }

    /// Makes this socket a PLAIN server: peers must present a username and password, which the
    /// context's ZAP handler (`inproc://zeromq.zap.01`) judges. Set before bind.
    public func setPlainServer(domain: String) throws(ZMQError) {
        try setInt(ZMQ_PLAIN_SERVER, 1, "PLAIN_SERVER")
        try setZAPDomain(domain)
    }

    /// Makes this socket a CURVE server with `secretKey` (Z85): every connection is encrypted,
    /// and the ZAP handler judges the client's public key. Set before bind.
    public func setCurveServer(secretKey: String, domain: String) throws(ZMQError) {
        try setInt(ZMQ_CURVE_SERVER, 1, "CURVE_SERVER")
        try setKey(ZMQ_CURVE_SECRETKEY, secretKey, "CURVE_SECRETKEY")
        try setZAPDomain(domain)
    }

    /// No security mechanism (NULL), but every connection still goes to the ZAP handler, which
    /// names or refuses it. Set before bind.
    public func setNullServer(domain: String) throws(ZMQError) { try setZAPDomain(domain) }

    /// CURVE client keys: the server's public key and this client's pair (Z85), used in every
    /// handshake (reconnects included). Set before connect.
    public func setCurveClient(serverKey: String, publicKey: String, secretKey: String) throws(ZMQError) {
        try setKey(ZMQ_CURVE_SERVERKEY, serverKey, "CURVE_SERVERKEY")
        try setKey(ZMQ_CURVE_PUBLICKEY, publicKey, "CURVE_PUBLICKEY")
        try setKey(ZMQ_CURVE_SECRETKEY, secretKey, "CURVE_SECRETKEY")
    }

    /// The ZAP domain, and ZAP_ENFORCE_DOMAIN so that the socket fails closed: without a ZAP
    /// handler answering, no connection is accepted (libzmq would otherwise accept NULL and
    /// PLAIN peers unauthenticated).
    private func setZAPDomain(_ domain: String) throws(ZMQError) {
        var bytes = Array(domain.utf8)
        try set(ZMQ_ZAP_DOMAIN, &bytes, bytes.count, "ZAP_DOMAIN")
        // ZMQ_ZAP_ENFORCE_DOMAIN (93) is in zmq.h's draft section; Debian's libzmq 4.3 accepts it.
        try setInt(93, 1, "ZAP_ENFORCE_DOMAIN")
    }

    /// A CURVE key option from its Z85 text (libzmq takes the 40 characters plus a terminator).
    private func setKey(_ option: Int32, _ z85: String, _ name: String) throws(ZMQError) {
        guard z85.utf8.count == 40 else {
            throw ZMQError(errno: EINVAL, message: "a CURVE key is 40 characters of Z85", context: "set \(name)")
        }
        var bytes = Array(z85.utf8) + [0]
        try set(option, &bytes, 41, name)
    }

    /// PLAIN client credentials, presented in every handshake (reconnects included). Set before connect.
    public func setPlainCredentials(username: String, password: String) throws(ZMQError) {
        var user = Array(username.utf8)
        var secret = Array(password.utf8)
        try set(ZMQ_PLAIN_USERNAME, &user, user.count, "PLAIN_USERNAME")
        try set(ZMQ_PLAIN_PASSWORD, &secret, secret.count, "PLAIN_PASSWORD")
    }

    /// Makes an XPUB hand every (un)subscription to the application, which decides what the
    /// sending peer gets: `subscribe`/`unsubscribe` on the XPUB then apply to that peer only
    /// (the one whose subscription message was received last).
    public func setXPubManual(_ on: Bool) throws(ZMQError) { try setInt(ZMQ_XPUB_MANUAL, on ? 1 : 0, "XPUB_MANUAL") }

    /// Subscribes to a topic prefix (SUB); on a manual XPUB, grants it to the last subscribing peer.
    public func subscribe(_ prefix: String) throws(ZMQError) { try subscribe(bytes: Array(prefix.utf8)) }

    public func subscribe(bytes prefix: [UInt8]) throws(ZMQError) {
        var bytes = prefix
        try set(ZMQ_SUBSCRIBE, &bytes, bytes.count, "SUBSCRIBE")
    }

    public func unsubscribe(_ prefix: String) throws(ZMQError) { try unsubscribe(bytes: Array(prefix.utf8)) }

    public func unsubscribe(bytes prefix: [UInt8]) throws(ZMQError) {
        var bytes = prefix
        try set(ZMQ_UNSUBSCRIBE, &bytes, bytes.count, "UNSUBSCRIBE")
    }

    private func setInt(_ option: Int32, _ value: Int32, _ name: String) throws(ZMQError) {
        var value = value
        try set(option, &value, MemoryLayout<Int32>.size, name)
    }

    private func set(_ option: Int32, _ value: UnsafeRawPointer?, _ size: Int, _ name: String) throws(ZMQError) {
        let handle = try live("set \(name)")
        guard zmq_setsockopt(handle, option, value, size) == 0 else { throw ZMQError.last("set \(name)") }
    }
}
