/// A stable, machine-readable error code carried in `ERROR` replies.
///
/// Open like GRDB's `ResultCode`: a newer broker may send codes an older client does not know,
/// and the client still gets a value it can log and compare.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Frame shape, tag, kind, JSON or a header field is wrong. Not retryable.
    public static let invalidMessage = ErrorCode(rawValue: "invalid_message")
    /// A header or body is larger than the announced limit. Not retryable.
    public static let payloadTooLarge = ErrorCode(rawValue: "payload_too_large")
    /// No contract with that name and version. Not retryable.
    public static let unknownContract = ErrorCode(rawValue: "unknown_contract")
    /// The body does not match the contract's input schema. Not retryable.
    public static let validationFailed = ErrorCode(rawValue: "validation_failed")
    /// The connection's credentials were refused (unknown name or wrong token). Not retryable.
    public static let unauthenticated = ErrorCode(rawValue: "unauthenticated")
    /// The sender lacks the contract's capability. Not retryable.
    public static let capabilityDenied = ErrorCode(rawValue: "capability_denied")
    /// Too many requests; retry after `retry_after_ms`.
    public static let rateLimited = ErrorCode(rawValue: "rate_limited")
    /// The request's deadline passed before it could run. Retryable with the same key.
    public static let deadlineExceeded = ErrorCode(rawValue: "deadline_exceeded")
    /// The idempotency key was used before with a different payload. Not retryable.
    public static let idempotencyMismatch = ErrorCode(rawValue: "idempotency_mismatch")
    /// The idempotency key is being processed for another request. Retryable.
    public static let idempotencyInFlight = ErrorCode(rawValue: "idempotency_in_flight")
    /// The database reached its storage limit. Not retryable until space is freed.
    public static let storageLimit = ErrorCode(rawValue: "storage_limit")
    /// A SQL constraint (UNIQUE, CHECK, NOT NULL, FOREIGN KEY) rejected the command. Stored in the
    /// ledger: a retry with the same key gets the same answer.
    public static let constraintViolation = ErrorCode(rawValue: "constraint_violation")
    /// A business rule of a command implemented in Swift refused the command (`details.rule`
    /// names it). Stored in the ledger like `constraint_violation`: a retry with the same key gets
    /// the same answer. Not retryable.
    public static let ruleViolation = ErrorCode(rawValue: "rule_violation")
    /// The broker's queues are full or it is shutting down. Retryable.
    public static let overloaded = ErrorCode(rawValue: "overloaded")
    /// The events asked for were compacted away; `details.first_seq` is the oldest still stored.
    /// Not retryable: start from a snapshot or from `first_seq`.
    public static let compacted = ErrorCode(rawValue: "compacted")
    /// A query asked for projections to reflect a source seq (`min_source_seq`, or `after` for the
    /// source database) they had not reached by its deadline. Retryable.
    public static let stale = ErrorCode(rawValue: "stale")
    /// `RELOAD`: the installed plugins could not be served (the message says why: a manifest, a
    /// contract, a migration); the broker goes on serving the plugins it served before. Not
    /// retryable until the plugins on disk change.
    public static let reloadRefused = ErrorCode(rawValue: "reload_refused")
    /// The command's database is on a server that cannot be reached now (an `exclusive-postgres`
    /// plugin's PostgreSQL): nothing was written. Retryable with the same key after
    /// `retry_after_ms`; the broker reconnects by itself.
    public static let unavailable = ErrorCode(rawValue: "unavailable")
    /// Anything else; the broker logged the cause. Retryable: nothing was committed.
    public static let `internal` = ErrorCode(rawValue: "internal")

    /// Whether a client may send the same request again (with the same idempotency key) and hope
    /// for a different outcome.
    public var isRetryableByDefault: Bool {
        switch self {
        case .rateLimited, .deadlineExceeded, .idempotencyInFlight, .overloaded, .stale, .unavailable, .internal: true
        default: false
        }
    }

    /// Every code of protocol version 1, in documentation order.
    public static let allKnown: [ErrorCode] = [
        .invalidMessage, .payloadTooLarge, .unknownContract, .validationFailed, .unauthenticated, .capabilityDenied,
        .rateLimited,
        .deadlineExceeded, .idempotencyMismatch, .idempotencyInFlight, .storageLimit, .constraintViolation,
        .ruleViolation,
        .overloaded, .compacted, .stale, .reloadRefused, .unavailable, .internal,
    ]
}
