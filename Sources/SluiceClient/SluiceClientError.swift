import SluiceWire

/// Failures of the client itself, as opposed to `WireError`s the broker answered.
public struct SluiceClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let rawValue: String
        /// No reply after every attempt. The command may or may not have committed: ask `status`
        /// with its idempotency key, or send it again with the same key.
        public static let timedOut = Code(rawValue: "timed_out")
        /// The client was closed before the reply came.
        public static let closed = Code(rawValue: "closed")
        /// The broker refused this client's credentials (or their absence) at the handshake: no
        /// request on this connection can be answered. Fix the name or the token.
        public static let credentialsRefused = Code(rawValue: "credentials_refused")
        /// The broker answered something this client cannot read.
        public static let protocolViolation = Code(rawValue: "protocol_violation")
    }

    public var code: Code
    public var message: String

    public var description: String { "\(code.rawValue): \(message)" }
}

extension WireError {
    /// The broker will take the same request later (`overloaded`, `unavailable`, or `rate_limited`
    /// with a `retry_after_ms`): the clients send it again after `retry_after_ms`.
    var asksToComeBackLater: Bool {
        code == .overloaded || code == .unavailable || (code == .rateLimited && retryAfterMs != nil)
    }
}
