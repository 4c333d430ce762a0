internal import CZeroMQ

/// One event from a socket monitor (`zmq_socket_monitor`): what happened on a connection.
public struct ZMQMonitorEvent: Sendable, Equatable {
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// The security handshake completed: the peer accepted our credentials.
        public static let handshakeSucceeded = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        /// The handshake failed before authentication (e.g. the peers' security mechanisms differ).
        public static let handshakeFailedNoDetail = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
        /// The handshake broke the protocol (e.g. a mechanism the peer does not speak).
        public static let handshakeFailedProtocol = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
        /// The connection closed (for a refused handshake, sometimes the only sign).
        public static let disconnected = Kind(rawValue: UInt16(ZMQ_EVENT_DISCONNECTED))
        /// A peer connected to a bound socket (before its handshake).
        public static let accepted = Kind(rawValue: UInt16(ZMQ_EVENT_ACCEPTED))
        /// The peer's authenticator (ZAP) refused our credentials.
        public static let handshakeFailedAuth = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
    }

    public var kind: Kind
    /// The event's value (for `handshakeFailedAuth`, the ZAP status code, e.g. 400).
    public var value: UInt32

    /// Reads the two frames a monitor socket delivers: 2 bytes event + 4 bytes value (both
    /// little-endian on every platform libzmq runs on), then the endpoint. Nil if malformed.
    public init?(frames: [[UInt8]]) {
        guard let first = frames.first, first.count == 6 else { return nil }
        kind = Kind(rawValue: UInt16(first[0]) | UInt16(first[1]) << 8)
        value = UInt32(first[2]) | UInt32(first[3]) << 8 | UInt32(first[4]) << 16 | UInt32(first[5]) << 24
    }
}

extension ZMQSocket {
    /// Publishes this socket's `events` on the PAIR endpoint `endpoint` (an `inproc://` name);
    /// connect a `.pair` socket there and read ``ZMQMonitorEvent``s from it.
    public func monitor(endpoint: String, events: ZMQMonitorEvent.Kind) throws(ZMQError) {
        let handle = try live("monitor \(endpoint)")
        guard zmq_socket_monitor(handle, endpoint, Int32(events.rawValue)) == 0 else {
            throw ZMQError.last("monitor \(endpoint)")
        }
    }
}
