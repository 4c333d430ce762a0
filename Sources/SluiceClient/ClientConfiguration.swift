public import SluiceZMQ
/// How a ``SluiceClient`` connects and retries.
public struct ClientConfiguration: Sendable {
    /// The broker's request endpoint, e.g. `ipc://./data/sluice.sock`.
    public var endpoint: String
    /// The broker's event endpoint; nil disables ``SluiceClient/events(topic:)``.
    public var eventEndpoint: String?
    /// How long to wait for a reply before sending the same request again. Default 5 s.
    public var attemptTimeout: Duration = .seconds(5)
    /// Attempts per request (the first send included) before failing with `timed_out` (or with
    /// the last `overloaded` / `rate_limited` answer, which are retried after their
    /// `retry_after_ms`). A retry carries the same idempotency key, so it can never apply a
    /// command twice. Default 3.
    public var maxAttempts = 3
    /// Subscriber queue limit (messages) for events; past it libzmq drops. Default 100,000.
    public var eventHighWaterMark: Int32 = 100_000
    /// Events that may wait for a slow consumer of an event stream; newer ones are dropped
    /// (and recovered by gap-free subscriptions). Default 10,000.
    public var eventBufferLimit = 10_000
    /// Who this client is. Without credentials the broker refuses the connection and every request fails with `credentials_refused`.
    public var credentials: ClientCredentials?
    /// Ephemeral mode: when set, creating the client first makes sure a broker serves this data
    /// directory, starting one in the background if none does (``BrokerAutoStart``). The
    /// credentials are then usually `.operator(dataDirectory:)`, read after the start.
    public var autoStart: BrokerAutoStart?
    /// For an `inproc://` endpoint of a broker embedded in this process: its ZeroMQ context
    /// (`Broker.context`), which inproc requires the client to share. The client then leaves it
    /// running when it closes.
    public var sharedContext: ZMQContext?
    /// Called (on the client's socket thread, or a ``SluiceConnection``'s calling thread; keep it
    /// quick) each time a request is sent again
    /// after its attempt timed out, with the caller's request id and the attempt's number (2, 3,
    /// …): for logs and metrics of retries.
    public var onRetry: (@Sendable (_ requestID: String, _ attempt: Int) -> Void)?

    public init(endpoint: String, eventEndpoint: String? = nil, credentials: ClientCredentials? = nil) {
        self.endpoint = endpoint
        self.eventEndpoint = eventEndpoint
        self.credentials = credentials
    }
}

extension ClientConfiguration {
    /// Whether a handshake outcome means the broker refused these credentials. On tcp any failed
    /// handshake is a refusal too: a CURVE broker meeting a client without keys (or with the
    /// wrong broker key) drops it before asking who it is, and libzmq reports that as a protocol
    /// failure or without detail.
    func isRefusal(_ event: ZMQMonitorEvent) -> Bool {
        event.kind == .handshakeFailedAuth
            || (endpoint.hasPrefix("tcp://")
                && (event.kind == .handshakeFailedProtocol || event.kind == .handshakeFailedNoDetail))
    }

    /// Why the broker refused these credentials at the handshake, and what to do about it.
    var credentialsRefusal: SluiceClientError {
        guard let credentials = credentials else {
            return SluiceClientError(
                code: .credentialsRefused,
                message:
                    "this client has no credentials, and the broker refuses connections without them: give it a name and that identity's token (the operator is 'local', its token <data-dir>/tokens/local.token)"
            )
        }
        if endpoint.hasPrefix("tcp://") {
            return SluiceClientError(
                code: .credentialsRefused,
                message: credentials.curve == nil
                    ? "the broker refused the handshake: its tcp endpoint speaks CURVE, and this client has no CURVE keys (docs/protocol.md §6)"
                    : "the broker refused the CURVE handshake of '\(credentials.name)': its public key is not registered (or was revoked), or the broker key is wrong; register it with sluice keys add <id> <public-key>"
            )
        }
        return SluiceClientError(
            code: .credentialsRefused,
            message:
                "the broker refused the credentials of '\(credentials.name)' at the handshake: use an installed identity's name and its token from <data-dir>/tokens/\(credentials.name).token"
        )
    }
}
