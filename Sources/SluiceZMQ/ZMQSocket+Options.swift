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
        var bytes = Array(domain.utf8)
        try set(ZMQ_ZAP_DOMAIN, &bytes, bytes.count, "ZAP_DOMAIN")
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
        guard let handle else { throw ZMQError(errno: ENOTSOCK, message: "socket is closed", context: "set \(name)") }
        guard zmq_setsockopt(handle, option, value, size) == 0 else { throw ZMQError.last("set \(name)") }
    }
}
