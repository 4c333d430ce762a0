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
    /// Called (on the client's socket thread; keep it quick) each time a request is sent again
    /// after its attempt timed out, with the caller's request id and the attempt's number (2, 3,
    /// …): for logs and metrics of retries.
    public var onRetry: (@Sendable (_ requestID: String, _ attempt: Int) -> Void)?

    public init(endpoint: String, eventEndpoint: String? = nil, credentials: ClientCredentials? = nil) {
        self.endpoint = endpoint
        self.eventEndpoint = eventEndpoint
        self.credentials = credentials
    }
}
