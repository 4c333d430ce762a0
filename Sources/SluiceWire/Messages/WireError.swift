/// The body of an `ERROR` reply, and the error type the client throws for one.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var retryable: Bool
    public var retryAfterMs: Int?
    public var details: [String: JSONValue]

    public init(
        _ code: ErrorCode, _ message: String, retryable: Bool? = nil, retryAfterMs: Int? = nil,
        details: [String: JSONValue] = [:]
    ) {
        self.code = code
        self.message = message
        self.retryable = retryable ?? code.isRetryableByDefault
        self.retryAfterMs = retryAfterMs
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    static func tooLarge(part: String, size: Int, limit: Int) -> WireError {
        WireError(
            .payloadTooLarge, "\(part) is \(size) bytes; the limit is \(limit)",
            details: ["part": .string(part), "size": .int(Int64(size)), "limit": .int(Int64(limit))]
        )
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "code": .string(code.rawValue),
            "message": .string(message),
            "retryable": .bool(retryable),
            "details": .object(details),
        ]
        if let retryAfterMs { members["retry_after_ms"] = .int(Int64(retryAfterMs)) }
        return .object(members)
    }

    /// Reads an `ERROR` body; tolerant of missing optional members.
    public init(json: JSONValue) {
        let code = ErrorCode(rawValue: json["code"]?.stringValue ?? "internal")
        self.init(
            code,
            json["message"]?.stringValue ?? "",
            retryable: json["retryable"]?.boolValue,
            retryAfterMs: json["retry_after_ms"]?.intValue.map { Int($0) },
            details: json["details"]?.objectValue ?? [:]
        )
    }
}
